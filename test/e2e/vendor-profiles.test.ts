import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeaderSync, type DicomJsonElement } from '../../src/dicom/index.js';
import { makeInstance, type GeneratedInstance } from '../../src/dicom/testing/index.js';
import { IngestionService, restoreOriginals } from '../../src/ingestion/index.js';
import { cli } from '../support/cli.js';
import { buildServer, removeServerBuild } from '../support/crash-child.js';
import { parseMultipart } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import {
  removeDataDir,
  startTestStrata,
  testEnv,
  type TestStrata,
} from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { retrieveDataset } from '../support/wado-client.js';

type Json = Record<string, DicomJsonElement>;

const PROFILE = `description: a PACS that writes Latin-1 without saying so, and prefixes accession numbers
reason: site A conventions
rules:
  - charset: { assume: ISO_IR 100 }
    reason: names arrive in Latin-1 without Specific Character Set
  - patientId: { prefix: 'A-', issuer: SITE_A }
    reason: site A patient IDs are not unique across the enterprise
  - accession: { stripPrefix: ACC, stripLeadingZeros: true }
  - set: { attribute: InstitutionName, value: Site A Hospital, when: empty }
  - removePrivate: { creators: [ACME PHI] }
    reason: the private block repeats the patient's name
`;

const CONFIG = `sources:
  site-a:
    adapter: stow-push
    token: admin
    profile: site-a
`;

/** A header as sent by site A: Latin-1 name, prefixed accession, a private block with PHI. */
function siteAInstance(transferSyntax: 'explicit' | 'implicit', frames = 3): GeneratedInstance {
  return makeInstance({
    transferSyntax,
    frames,
    patientName: 'Müller^Zoë',
    patientId: 'PID0042',
    accession: 'ACC000123',
    extra: [
      { tag: '00090010', vr: 'LO', value: 'ACME PHI' },
      { tag: '00091001', vr: 'LO', value: 'Müller' },
      { tag: '00190010', vr: 'LO', value: 'ACME GEOMETRY' },
      { tag: '00191001', vr: 'DS', value: '0.5' },
    ],
  });
}

function first(m: Json, tag: string): unknown {
  return m[tag]?.Value?.[0];
}

function writeProfiles(dataDir: string, files: Record<string, string>): void {
  mkdirSync(join(dataDir, 'policies', 'profiles'), { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dataDir, 'policies', 'profiles', name), text);
  }
}

describe('vendor profiles on ingest', () => {
  let s: TestStrata;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-profiles-'));
    writeProfiles(dataDir, { 'site-a.yaml': PROFILE });
    s = await startTestStrata({ dataDir, configYaml: CONFIG });
  });
  afterAll(async () => {
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  const get = (path: string) =>
    fetch(path.startsWith('http') ? path : `${s.httpUrl}${path}`, {
      headers: { authorization: s.auth },
    });

  for (const transferSyntax of ['explicit', 'implicit'] as const) {
    it(`${transferSyntax} VR: the stored object holds the new values and the originals in Original Attributes Sequence`, async () => {
      const i = siteAInstance(transferSyntax);
      expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
      const stored = await retrieveDataset(s.httpUrl, s.auth, i);
      const pixelStart = stored.length - (i.dataset.length - i.pixelDataOffset!);
      const header = stored.subarray(0, pixelStart);
      // The pixel data, and everything after the header, is untouched.
      expect(stored.subarray(pixelStart).equals(i.dataset.subarray(i.pixelDataOffset!))).toBe(true);

      const parsed = parseHeaderSync(header, i.transferSyntaxUid);
      expect(parsed.sopInstanceUid).toBe(i.sopInstanceUid);
      expect(parsed.specificCharacterSet).toBe('ISO_IR 100');
      expect(parsed.attributes).toMatchObject({
        patientName: 'Müller^Zoë',
        patientId: 'A-PID0042',
        issuerOfPatientId: 'SITE_A',
        accessionNumber: '123',
        institutionName: 'Site A Hospital',
      });
      const m = parsed.metadata;
      expect(m['00090010']).toBeUndefined();
      expect(m['00091001']).toBeUndefined();
      expect(first(m, '00190010')).toBe('ACME GEOMETRY');

      const items = m['04000561']!.Value as Json[];
      expect(items).toHaveLength(1);
      const item = items[0]!;
      expect(first(item, '04000563')).toBe('STRATA');
      expect(first(item, '04000564')).toBe('site-a');
      expect(first(item, '04000565')).toBe('COERCE');
      expect(first(item, '04000562')).toMatch(/^\d{14}\.\d{6}\+0000$/);
      // Strata's private block: the profile and the reasons (implicit VR leaves private elements
      // without a VR, so the parser shows them as bytes).
      const text = (tag: string) =>
        transferSyntax === 'explicit'
          ? String(first(item, tag))
          : Buffer.from(item[tag]!.InlineBinary!, 'base64').toString('latin1');
      expect(first(item, '00090010')).toBe('STRATA PROFILE');
      expect(text('00091001').trim()).toBe('site-a');
      const reasons = text('00091002');
      expect(reasons).toContain('PatientID (0010,0020): site A patient IDs are not unique');
      expect(reasons).toContain('AccessionNumber (0008,0050): site A conventions');
      const original = (item['04000550']!.Value as Json[])[0]!;
      expect(first(original, '00100020')).toBe('PID0042');
      expect(first(original, '00080050')).toBe('ACC000123');
      expect(first(original, '00090010')).toBe('ACME PHI');
      expect(Object.keys(original).sort()).toEqual([
        '00080005',
        '00080050',
        '00080080',
        '00090010',
        '00091001',
        '00100020',
        '00100021',
      ]);

      // The originals are enough to rebuild what was sent, byte for byte.
      const back = restoreOriginals(header, i.transferSyntaxUid);
      expect(back.headerBytes.equals(i.dataset.subarray(0, i.pixelDataOffset!))).toBe(true);
    });
  }

  it('QIDO-RS, the metadata and the catalog show the new values', async () => {
    const i = siteAInstance('explicit');
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const res = await get(
      `/dicomweb/studies?StudyInstanceUID=${i.studyInstanceUid}&includefield=00100021&includefield=00080080`,
    );
    expect(res.status).toBe(200);
    const [study] = (await res.json()) as Json[];
    expect(first(study!, '00100020')).toBe('A-PID0042');
    expect(first(study!, '00080050')).toBe('123');
    expect(await (await get(`/dicomweb/studies?PatientID=PID0042`)).text()).not.toContain(
      i.studyInstanceUid,
    );
    const byNewId = await get(`/dicomweb/studies?PatientID=A-PID0042&AccessionNumber=123`);
    expect(await byNewId.text()).toContain(i.studyInstanceUid);

    const meta = await get(
      `/dicomweb/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}/metadata`,
    );
    const [m] = (await meta.json()) as Json[];
    expect(first(m!, '00100021')).toBe('SITE_A');
    expect(m!['04000561']).toBeDefined();

    const rows = await s.running.database.database.query<{ accession: string }>(
      'SELECT accession_number AS accession FROM studies WHERE study_instance_uid = $1',
      [i.studyInstanceUid],
    );
    expect(rows).toEqual([{ accession: '123' }]);
  });

  it('the same instance sent again is a duplicate, not a new version; changed bytes are one', async () => {
    const i = siteAInstance('explicit');
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const first = await retrieveDataset(s.httpUrl, s.auth, i);
    // Later: its Original Attributes Sequence item would have another time, yet it is the same.
    await new Promise((r) => setTimeout(r, 20));
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const versions = () =>
      s.running.database.database.query<{ n: number }>(
        `SELECT i.version_count AS n FROM instances i WHERE i.sop_instance_uid = $1`,
        [i.sopInstanceUid],
      );
    expect(await versions()).toEqual([{ n: 1 }]);
    expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(first)).toBe(true);
    const outcomes = await s.running.database.database.query<{ outcome: string }>(
      `SELECT detail->>'outcome' AS outcome FROM audit_events
        WHERE action = 'instance.stored' AND detail->>'sopInstanceUid' = $1 ORDER BY seq`,
      [i.sopInstanceUid],
    );
    expect(outcomes.map((o) => o.outcome)).toEqual(['stored', 'duplicate']);

    // Other bytes under the same UID: a new version, as for any source.
    const changed = makeInstance({
      transferSyntax: 'explicit',
      sopInstanceUid: i.sopInstanceUid,
      studyInstanceUid: i.studyInstanceUid,
      seriesInstanceUid: i.seriesInstanceUid,
      patientId: 'PID0042',
      accession: 'ACC000123',
      instanceNumber: 99,
    });
    expect((await stow(s.httpUrl, s.auth, [changed.part10])).status).toBe(200);
    expect(await versions()).toEqual([{ n: 2 }]);
  });

  it('frame data is still served by its bulk data URI after the header grew', async () => {
    const i = siteAInstance('explicit', 4);
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const base = `/dicomweb/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`;
    const [m] = (await (await get(`${base}/metadata`)).json()) as Json[];
    const uri = m!['7FE00010']!.BulkDataURI!;
    expect(uri).toMatch(/\/bulkdata\/7FE00010$/);
    const res = await get(uri);
    expect(res.status).toBe(200);
    const [part] = parseMultipart(
      Buffer.from(await res.arrayBuffer()),
      res.headers.get('content-type')!,
    );
    // The Pixel Data value: 4 frames of 16 x 16 x 2 bytes, as sent.
    const sent = i.dataset.subarray(i.pixelDataOffset! + 12);
    expect(part!.body.length).toBe(4 * 16 * 16 * 2);
    expect(part!.body.equals(sent)).toBe(true);
  });

  it('the audit trail names the profile and the number of changed attributes, no values', async () => {
    const i = siteAInstance('explicit');
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const [row] = await s.running.database.database.query<{ detail: Record<string, unknown> }>(
      `SELECT detail FROM audit_events
        WHERE action = 'instance.stored' AND detail->>'sopInstanceUid' = $1`,
      [i.sopInstanceUid],
    );
    expect(row!.detail).toMatchObject({
      source: 'site-a',
      profile: { name: 'site-a', changedAttributes: 7 },
    });
    expect((row!.detail.profile as { version: string }).version).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(row!.detail)).not.toMatch(/PID0042|ACC000123|Müller/);
  });

  it('a deflated instance the profile would change is refused, and audited as such', async () => {
    const i = makeInstance({ transferSyntax: 'deflated', accession: 'ACC7' });
    const res = await stow(s.httpUrl, s.auth, [i.part10]);
    expect(res.status).toBe(409);
    const failed = res.json!['00081198']!.Value as Json[];
    expect(first(failed[0]!, '00081197')).toBe(0xc000);
    let rows: { detail: Record<string, unknown> }[] = [];
    for (let t = 0; t < 100 && rows.length === 0; t++) {
      rows = await s.running.database.database.query<{ detail: Record<string, unknown> }>(
        `SELECT detail FROM audit_events WHERE action = 'instance.stored' AND outcome = 'failure'
          AND detail->>'reason' = 'profile-failed'`,
      );
      if (rows.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows[0]!.detail).toMatchObject({ source: 'site-a', profile: 'site-a' });
  });

  it('the new header is spliced in whatever the chunking of the stream (C-STORE-like, odd chunks)', async () => {
    const i = siteAInstance('implicit', 2);
    const chunks: Buffer[] = [];
    for (let at = 0; at < i.dataset.length; at += 7) chunks.push(i.dataset.subarray(at, at + 7));
    const result = await s.running.app.get(IngestionService).ingest({
      adapter: 'test',
      source: 'site-a',
      actor: 'test',
      callingAet: null,
      remoteHost: null,
      framing: 'dataset',
      transferSyntaxUid: i.transferSyntaxUid,
      data: Readable.from(chunks),
    });
    expect(result.ok).toBe(true);
    const stored = await retrieveDataset(s.httpUrl, s.auth, i);
    const pixelStart = stored.length - (i.dataset.length - i.pixelDataOffset!);
    expect(stored.subarray(pixelStart).equals(i.dataset.subarray(i.pixelDataOffset!))).toBe(true);
    const back = restoreOriginals(stored.subarray(0, pixelStart), i.transferSyntaxUid);
    expect(back.headerBytes.equals(i.dataset.subarray(0, i.pixelDataOffset!))).toBe(true);
  });

  it('a truncated instance from a profiled source is still refused as truncated', async () => {
    const i = siteAInstance('explicit');
    const result = await s.running.app.get(IngestionService).ingest({
      adapter: 'test',
      source: 'site-a',
      actor: 'test',
      callingAet: null,
      remoteHost: null,
      framing: 'dataset',
      transferSyntaxUid: i.transferSyntaxUid,
      data: Readable.from([i.dataset.subarray(0, i.dataset.length - 100)]),
    });
    expect(result).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('an instance from a source without a profile is stored byte for byte as sent', async () => {
    const i = siteAInstance('explicit');
    const result = await s.running.app.get(IngestionService).ingest({
      adapter: 'test',
      source: 'plain',
      actor: 'test',
      callingAet: null,
      remoteHost: null,
      framing: 'part10',
      data: Readable.from([i.part10]),
    });
    expect(result.ok).toBe(true);
    const stored = await retrieveDataset(s.httpUrl, s.auth, i);
    expect(stored.equals(i.dataset)).toBe(true);
  });
});

describe('vendor profiles at start', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) removeDataDir(d);
  });

  async function startError(profiles: Record<string, string>, config: string): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-profiles-bad-'));
    dirs.push(dataDir);
    writeProfiles(dataDir, profiles);
    try {
      const s = await startTestStrata({ dataDir, configYaml: config });
      await s.stop();
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the archive started');
  }

  it('a source naming a profile that does not exist stops the start', async () => {
    const message = await startError(
      { 'site-a.yaml': PROFILE },
      CONFIG.replace('profile: site-a', 'profile: site-b'),
    );
    expect(message).toMatch(
      /sources\.site-a\.profile: no profile 'site-b' in .*profiles \(profiles: site-a\)/,
    );
  });

  it('an invalid profile file stops the start with its file, line and key', async () => {
    const message = await startError(
      {
        'site-a.yaml':
          'reason: r\nrules:\n  - set: { attribute: StudyInstanceUID, value: "1.2" }\n',
      },
      CONFIG,
    );
    expect(message).toContain(
      'profiles/site-a.yaml:3: rules[0].set.attribute: StudyInstanceUID (0020,000D) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
    );
  });
});

describe('strata profile test', () => {
  let work: string;
  let env: Record<string, string>;
  let file: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-profile-cli-'));
    const dataDir = join(work, 'data');
    writeProfiles(dataDir, { 'site-a.yaml': PROFILE, 'generic.yaml': 'rules: []\n' });
    writeFileSync(join(work, 'strata.config.yaml'), CONFIG);
    env = testEnv(dataDir, await createTestDatabase(), {
      STRATA_CONFIG: join(work, 'strata.config.yaml'),
    });
    file = join(work, 'in.dcm');
    writeFileSync(file, siteAInstance('explicit').part10);
    writeFileSync(join(work, 'not.dcm'), 'not DICOM at all');
    await buildServer();
  }, 240_000);
  afterAll(() => {
    removeServerBuild();
    rmSync(work, { recursive: true, force: true });
  });

  it("shows the attribute diff a source's profile would make", async () => {
    const r = await cli(['profile', 'test', file, '--source', 'site-a'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`profile site-a (profiles/site-a.yaml) on ${file}, source site-a:`);
    expect(r.stdout).toMatch(
      /PatientID \(0010,0020\) +'PID0042' → 'A-PID0042' +rule 2 patientId: site A patient IDs/,
    );
    expect(r.stdout).toMatch(/IssuerOfPatientID \(0010,0021\) +\(absent\) → 'SITE_A'/);
    expect(r.stdout).toMatch(
      /AccessionNumber \(0008,0050\) +'ACC000123' → '123' +rule 3 accession: site A conventions/,
    );
    expect(r.stdout).toMatch(
      /private block 'ACME PHI' \(0009,10xx\) +2 element\(s\) → \(removed\)/,
    );
    expect(r.stdout).toContain('7 attribute(s) would change');
  });

  it('--profile tries a profile no source uses; --json', async () => {
    const none = await cli(['profile', 'test', file, '--profile', 'generic'], env);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('no change: the instance would be stored exactly as received');
    const json = await cli(['profile', 'test', file, '--profile', 'site-a', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as {
      changedAttributes: number;
      changes: { keyword: string; before: string | null; after: string | null }[];
    };
    expect(report.changedAttributes).toBe(7);
    expect(report.changes).toContainEqual(
      expect.objectContaining({ keyword: 'PatientID', before: 'PID0042', after: 'A-PID0042' }),
    );
  });

  it('exit 1 for a file that is not DICOM, 2 for usage errors; list', async () => {
    const notDicom = await cli(
      ['profile', 'test', join(work, 'not.dcm'), '--source', 'site-a'],
      env,
    );
    expect(notDicom.code).toBe(1);
    expect(notDicom.stderr).toMatch(/not a DICOM file/);
    for (const args of [
      ['profile', 'test', file],
      ['profile', 'test', file, '--profile', 'nope'],
      ['profile', 'test', file, '--source', 'nope'],
      ['profile', 'frobnicate'],
    ]) {
      expect((await cli(args, env)).code, args.join(' ')).toBe(2);
    }
    const list = await cli(['profile', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/site-a +5 rule\(s\) +sources: site-a/);
    expect(list.stdout).toMatch(/generic +0 rule\(s\) +sources: -/);
    const validate = await cli(['policy', 'validate'], env);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain('2 vendor profile(s)');
  });
});
