import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { type RunningTool, startListeningTool } from '../../src/dimse/testing/harness.js';
import { freePort } from '../support/crash-child.js';
import { hasTool, runTool } from '../support/interop.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const run =
  hasTool('storescu') &&
  hasTool('findscu') &&
  hasTool('movescu') &&
  hasTool('getscu') &&
  hasTool('echoscu') &&
  hasTool('storescp');

/**
 * DICOM access per peer (issue 6): dicom.peers.<AE>.allow and dicom.unknownPeers.allow, against
 * dcmtk. A command the peer may not give is answered 0124 (Refused: Not Authorized) and audited
 * as 'permission.denied'; a peer that may do nothing has its association rejected
 * ('association.refused'); what it may do works as before.
 */
describe.runIf(run)('which AE titles may store, query, move and get', () => {
  let s: TestStrata;
  let db: pg.Client;
  let dest: RunningTool;
  let work: string;
  let received: string;
  const study = newUid();
  const stored = makeInstance({ studyInstanceUid: study, sopClassUid: CT, patientId: 'PA-1' });

  const peer = (aet: string) => ['-aet', aet, '-aec', 'STRATA', '127.0.0.1', String(s.dicomPort)];
  const keys = (level: string, more: Record<string, string> = {}) => [
    '-k',
    `QueryRetrieveLevel=${level}`,
    ...Object.entries(more).flatMap(([k, v]) => ['-k', `${k}=${v}`]),
  ];
  const lastAudit = async (action: string) =>
    (
      await db.query(
        `SELECT actor, actor_host, outcome, detail FROM audit_events WHERE action = $1 ORDER BY seq DESC LIMIT 1`,
        [action],
      )
    ).rows[0] as {
      actor: string;
      actor_host: string;
      outcome: string;
      detail: Record<string, unknown>;
    };
  const storedCount = async (sop: string) =>
    (await db.query('SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = $1', [sop]))
      .rows[0].n as number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-peer-access-'));
    received = join(work, 'received');
    const destPort = await freePort();
    mkdirSync(received);
    dest = await startListeningTool(
      'storescp',
      ['-aet', 'DEST', '-od', received, String(destPort)],
      destPort,
    );
    s = await startTestStrata({
      configYaml: `
dicom:
  unknownPeers: { allow: [] }
  peers:
    STORE_ONLY: { host: 127.0.0.1, port: 1, allow: [store] }
    QUERY_ONLY: { host: 127.0.0.1, port: 1, allow: [query] }
    RETRIEVER: { host: 127.0.0.1, port: 1, allow: [query, move, get] }
    NOTHING: { host: 127.0.0.1, port: 1, allow: [] }
    DEST: { host: 127.0.0.1, port: ${destPort}, allow: [] }
fixity:
  schedule: 'off'
`,
    });
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
    writeFileSync(join(work, 'stored.dcm'), stored.part10);
    const r = await runTool('storescu', [...peer('STORE_ONLY'), join(work, 'stored.dcm')]);
    expect(r.code, r.stderr).toBe(0);
    expect(await storedCount(stored.sopInstanceUid)).toBe(1);
  }, 120_000);
  afterAll(async () => {
    await db?.end();
    await dest?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('C-STORE from a peer that may not store: 0124, nothing stored, audited', async () => {
    const other = makeInstance({ sopClassUid: CT });
    writeFileSync(join(work, 'other.dcm'), other.part10);
    const r = await runTool('storescu', ['-v', ...peer('QUERY_ONLY'), join(work, 'other.dcm')]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Status: 0x0?124|Not ?Authori[sz]ed/i);
    expect(await storedCount(other.sopInstanceUid)).toBe(0);
    expect(await lastAudit('permission.denied')).toMatchObject({
      actor: 'QUERY_ONLY',
      actor_host: '127.0.0.1',
      outcome: 'failure',
      detail: { protocol: 'DIMSE', command: 'C-STORE', operation: 'store', allowed: ['query'] },
    });
  });

  it('C-FIND: refused for a peer that may only store, answered for one that may query', async () => {
    let r = await runTool('findscu', [
      '-v',
      '-S',
      ...peer('STORE_ONLY'),
      ...keys('STUDY', { StudyInstanceUID: study }),
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Status: 0x0?124|Not ?Authori[sz]ed/i);
    expect(await lastAudit('permission.denied')).toMatchObject({
      actor: 'STORE_ONLY',
      detail: { command: 'C-FIND', operation: 'query' },
    });
    r = await runTool('findscu', [
      '-v',
      '-S',
      ...peer('QUERY_ONLY'),
      ...keys('STUDY', { StudyInstanceUID: study }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain(study);
  });

  it('C-MOVE: refused for a peer that may not move, done for one that may', async () => {
    let r = await runTool('movescu', [
      '-v',
      '-S',
      '-aem',
      'DEST',
      ...peer('QUERY_ONLY'),
      ...keys('STUDY', { StudyInstanceUID: study }),
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Status: 0x0?124|Not ?Authori[sz]ed/i);
    expect(readdirSync(received)).toHaveLength(0);
    expect((await lastAudit('permission.denied')).detail).toMatchObject({ command: 'C-MOVE' });
    r = await runTool('movescu', [
      '-S',
      '-aem',
      'DEST',
      ...peer('RETRIEVER'),
      ...keys('STUDY', { StudyInstanceUID: study }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(received)).toHaveLength(1);
  });

  it('C-GET: refused for a peer that may not get, done for one that may', async () => {
    const out = join(work, 'get');
    mkdirSync(out);
    let r = await runTool('getscu', [
      '-v',
      '-S',
      ...peer('QUERY_ONLY'),
      ...keys('STUDY', { StudyInstanceUID: study }),
      '-od',
      out,
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Status: 0x0?124|Not ?Authori[sz]ed/i);
    expect(readdirSync(out)).toHaveLength(0);
    expect((await lastAudit('permission.denied')).detail).toMatchObject({ command: 'C-GET' });
    r = await runTool('getscu', [
      '-S',
      ...peer('RETRIEVER'),
      ...keys('STUDY', { StudyInstanceUID: study }),
      '-od',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toHaveLength(1);
  });

  it.each([
    ['a configured peer that may do nothing', 'NOTHING', /dicom\.peers\.NOTHING\.allow is empty/],
    ['an unknown AE title (unknownPeers.allow: [])', 'STRANGER', /unknown calling AE title/],
  ])('rejects the association of %s, audited', async (_what, aet, reason) => {
    const r = await runTool('echoscu', peer(aet));
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Association Rejected|rejected/i);
    const refused = await lastAudit('association.refused');
    expect(refused.actor).toBe(aet);
    expect(String(refused.detail.reason)).toMatch(reason);
  });
});
