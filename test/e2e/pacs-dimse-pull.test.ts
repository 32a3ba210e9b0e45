import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/database/index.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import {
  DimsePuller,
  type DimsePullSource,
} from '../../src/ingestion/adapters/dimse-pull/dimse-pull.js';
import { DimsePullAdapter, IngestionService } from '../../src/ingestion/index.js';
import { freePort } from '../support/crash-child.js';
import { hasTool } from '../support/interop.js';
import { type OrthancPeer, startOrthanc } from '../support/orthanc.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi, retrieveDataset } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const SC = '1.2.840.10008.5.1.4.1.1.7';
const run = hasTool('Orthanc');

type Instance = ReturnType<typeof makeInstance>;

/** A study of `n` instances on `date`; the last one JPEG-compressed (kept so, not transcoded). */
function study(date: string, accession: string, n: number, patientId: string): Instance[] {
  const uid = newUid();
  return Array.from({ length: n }, (_, k) =>
    makeInstance({
      studyInstanceUid: uid,
      sopClassUid: k === n - 1 ? SC : CT,
      transferSyntax: k === n - 1 ? 'jpeg-baseline' : 'explicit',
      studyDate: date,
      accession,
      patientId,
      instanceNumber: k + 1,
      pixelBytes: 16 * 1024,
    }),
  );
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Strata drains Orthanc over DIMSE (dimse-pull): C-FIND by date range (day by day) and C-MOVE
 * to itself, or C-GET by accession number. Counts and bytes match what Orthanc holds, a second
 * run fetches nothing, a run stopped half-way or cut off by the PACS going away resumes from its
 * checkpoint, and a PACS that does not know the move destination gives a clear error.
 */
describe.runIf(run)('dimse-pull: draining Orthanc with C-FIND + C-MOVE / C-GET', () => {
  let s: TestStrata;
  let orthanc: OrthancPeer;
  let orthancPort: number;
  let strataPort: number;
  let db: pg.Client;
  // In the range: three days, one study each (the middle one twice the size).
  const inRange = [
    study('20240102', 'ACC-1', 2, 'DP-1'),
    study('20240103', 'ACC-2', 4, 'DP-2'),
    study('20240104', 'ACC-3', 2, 'DP-3'),
  ];
  // Outside it: only C-GET by accession number brings it.
  const older = study('20230101', 'ACC-OLD', 3, 'DP-OLD');
  // For the PACS that goes away: their own days.
  const late = [
    study('20240301', 'ACC-L1', 2, 'DP-L1'),
    study('20240302', 'ACC-L2', 2, 'DP-L2'),
    study('20240303', 'ACC-L3', 2, 'DP-L3'),
  ];

  const puller = () =>
    new DimsePuller(s.running.app.get(Database), s.running.app.get(IngestionService));
  const settings = (name: string): DimsePullSource =>
    s.running.app.get(DimsePullAdapter).settings(s.config.sources[name]!);
  const bySource = async (source: string) =>
    (
      await db.query<{ n: number; bytes: string }>(
        `SELECT count(*)::int AS n, coalesce(sum(b.size), 0)::text AS bytes
           FROM instance_versions v JOIN blobs b ON b.id = v.blob_fk WHERE v.source = $1`,
        [source],
      )
    ).rows[0]!;
  const storedDigests = async (uids: string[]) =>
    (
      await db.query<{ sop: string; ts: string }>(
        `SELECT i.sop_instance_uid AS sop, v.transfer_syntax_uid AS ts
           FROM instances i JOIN instance_versions v ON v.id = i.current_version_fk
          WHERE i.sop_instance_uid = ANY($1)`,
        [uids],
      )
    ).rows;
  const upload = async (peer: OrthancPeer, instances: Instance[]) => {
    for (const i of instances) await peer.rest('POST', '/instances', i.part10);
  };

  beforeAll(async () => {
    strataPort = await freePort();
    orthancPort = await freePort();
    s = await startTestStrata({
      env: { STRATA_DICOM_PORT: String(strataPort) },
      configYaml: `
dicom:
  peers:
    ORTHANC: { host: 127.0.0.1, port: ${orthancPort} }
    ORTHANC_GET: { host: 127.0.0.1, port: ${orthancPort} }
sources:
  old-pacs:
    adapter: dimse-pull
    peer: ORTHANC
    query: { StudyDate: 20240102-20240104 }
  old-pacs-get:
    adapter: dimse-pull
    peer: ORTHANC_GET
    retrieve: get
    accessionNumbers: [ACC-OLD, ACC-2]
    instancesPerSecond: 200
    associations: 2
fixity:
  schedule: 'off'
`,
    });
    orthanc = await startOrthanc(
      { STRATA: { host: '127.0.0.1', port: strataPort } },
      { dicomPort: orthancPort },
    );
    await upload(orthanc, [...inRange, older].flat());
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await orthanc?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('C-MOVE by date range: stopped half-way, resumed, counts and bytes match, then nothing new', async () => {
    const stop = new AbortController();
    const first = await puller().pull(
      settings('old-pacs'),
      (r) => {
        if (r.fetched > 0) stop.abort();
      },
      stop.signal,
    );
    expect(first.error).toBe('stopped');
    expect(first.fetched).toBe(2);

    const rest = await s.running.app.get(DimsePullAdapter).run('old-pacs');
    expect(rest!.error, orthanc.log().slice(-3000)).toBeNull();
    expect(rest).toMatchObject({ fetched: 6, stored: 6, refused: 0, cursor: { studies: 3 } });

    const expected = inRange.flat();
    const held = await bySource('old-pacs');
    expect(held.n).toBe(expected.length);
    expect(Number(held.bytes)).toBe(expected.reduce((n, i) => n + i.dataset.length, 0));
    expect(rest!.bytes + first.bytes).toBe(Number(held.bytes));
    // Not transcoded: each instance is held in the transfer syntax it was sent to Orthanc in.
    const rows = await storedDigests(expected.map((i) => i.sopInstanceUid));
    for (const i of expected) {
      expect(rows.find((r) => r.sop === i.sopInstanceUid)?.ts).toBe(i.transferSyntaxUid);
    }
    // The older study is outside the range.
    expect(await storedDigests(older.map((i) => i.sopInstanceUid))).toHaveLength(0);

    const again = await s.running.app.get(DimsePullAdapter).run('old-pacs');
    expect(again).toMatchObject({ fetched: 0, error: null });

    // GET /api/sources shows the source, its counters and its checkpoint.
    const { body } = await callApi(s, 'GET', '/api/sources');
    const view = (
      body.sources as { name: string; adapter: string; checkpoint?: string | null }[]
    ).find((x) => x.name === 'old-pacs');
    expect(view).toMatchObject({ adapter: 'dimse-pull', checkpoint: '{"studies":3}' });
  });

  it('C-GET by accession number: same association, byte-identical, paced, duplicates known', async () => {
    const r = await s.running.app.get(DimsePullAdapter).run('old-pacs-get');
    expect(r!.error, orthanc.log().slice(-3000)).toBeNull();
    // ACC-OLD is new; ACC-2 came by C-MOVE already: the same bytes again.
    expect(r).toMatchObject({ fetched: 7, stored: 3, duplicates: 4, refused: 0 });
    expect(r!.bytes).toBe([...older, ...inRange[1]!].reduce((n, i) => n + i.dataset.length, 0));
    const held = await bySource('old-pacs-get');
    expect(held.n).toBe(3);
    // What WADO-RS gives back of the JPEG instance is what Orthanc was given.
    const jpeg = older[older.length - 1]!;
    const back = await retrieveDataset(s.httpUrl, s.auth, jpeg);
    expect(sha(back)).toBe(sha(jpeg.dataset));

    const again = await s.running.app.get(DimsePullAdapter).run('old-pacs-get');
    expect(again).toMatchObject({ fetched: 0, error: null });
  });

  it('a PACS that does not know the move destination: a clear error, nothing checkpointed', async () => {
    const r = await puller().pull({
      ...settings('old-pacs'),
      name: 'nowhere-test',
      moveDestination: 'NOWHERE',
      query: { StudyDate: '20230101' },
    });
    // Orthanc answers 0xC000 without sub-operations (not 0xA801): the error says what to check.
    expect(r.error).toMatch(
      /1 study not retrieved whole, retried next run; last: the PACS refused the C-MOVE \(status 0xC000\): does it know NOWHERE as a move destination\?/,
    );
    expect(r.cursor).toEqual({ studies: 0 });
  });

  it('the PACS goes away mid-run: a clear error, and the next run goes on from the checkpoint', async () => {
    await upload(orthanc, late.flat());
    const source = {
      ...settings('old-pacs'),
      name: 'late-test',
      query: { StudyDate: '20240301-20240303' },
      // Slow enough that the PACS is gone before the second study (a booking of 1 s each).
      instancesPerSecond: 2,
    };
    let killed = false;
    const first = await puller().pull(source, (r) => {
      if (r.fetched > 0 && !killed) {
        killed = true;
        void orthanc.kill();
      }
    });
    expect(first.error).toMatch(/lost|unreachable|did not answer/);
    expect(first.cursor).toEqual({ studies: 1 });

    await until(
      async () =>
        !(await fetch(orthanc.http).then(
          () => true,
          () => false,
        )),
    );
    const down = await puller().pull(source);
    expect(down.error).toMatch(/source unreachable: ORTHANC@127\.0\.0\.1/);
    expect(down.fetched).toBe(0);

    // The PACS is back (same port, same studies): only the two studies left come.
    orthanc = await startOrthanc(
      { STRATA: { host: '127.0.0.1', port: strataPort } },
      { dicomPort: orthancPort },
    );
    await upload(orthanc, late.flat());
    const resumed = await puller().pull(source);
    expect(resumed.error).toBeNull();
    expect(resumed).toMatchObject({ fetched: 4, cursor: { studies: 3 } });
    expect(await storedDigests(late.flat().map((i) => i.sopInstanceUid))).toHaveLength(6);
  });
});

async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
