import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/database/index.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { DicomwebPuller } from '../../src/ingestion/adapters/dicomweb-pull/dicomweb-pull.js';
import { OrthancPuller } from '../../src/ingestion/adapters/orthanc-pull/orthanc-pull.js';
import { IngestionService } from '../../src/ingestion/index.js';
import { hasTool } from '../support/interop.js';
import { type OrthancPeer, startOrthanc } from '../support/orthanc.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const run = hasTool('Orthanc');

/**
 * Strata drains an Orthanc: through its change feed (orthanc-pull) and through its DICOMweb
 * plugin (dicomweb-pull). Counts and bytes match, a second run fetches nothing new, a run
 * stopped half-way goes on from its checkpoint, and an unreachable source fails cleanly.
 */
describe.runIf(run)('pulling from Orthanc', () => {
  let s: TestStrata;
  let orthanc: OrthancPeer;
  let db: pg.Client;
  const studies = [newUid(), newUid(), newUid()];
  const instances = studies.flatMap((study, n) =>
    [1, 2].map((k) =>
      makeInstance({
        studyInstanceUid: study,
        sopClassUid: CT,
        patientId: `PULL-${n}`,
        instanceNumber: k,
        pixelBytes: 8192,
      }),
    ),
  );
  const bytes = instances.reduce((sum, i) => sum + i.part10.length, 0);
  const pullers = () => ({
    orthanc: new OrthancPuller(s.running.app.get(Database), s.running.app.get(IngestionService)),
    dicomweb: new DicomwebPuller(s.running.app.get(Database), s.running.app.get(IngestionService)),
  });
  const stored = async (source: string) =>
    (
      await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM instance_versions WHERE source = $1',
        [source],
      )
    ).rows[0]!.n;

  beforeAll(async () => {
    orthanc = await startOrthanc({});
    s = await startTestStrata({
      configYaml: `
sources:
  old-orthanc: { adapter: orthanc-pull, url: '${orthanc.http}' }
  orthanc-web: { adapter: dicomweb-pull, url: '${orthanc.http}/dicom-web' }
fixity:
  schedule: 'off'
`,
    });
    for (const i of instances) await orthanc.rest('POST', '/instances', i.part10);
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await orthanc?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('orthanc-pull: the change feed, stopped half-way, resumed, then nothing new', async () => {
    const source = { name: 'old-orthanc', url: orthanc.http };
    const stop = new AbortController();
    let first = await pullers().orthanc.pull(
      source,
      (r) => {
        if (r.fetched === 2) stop.abort();
      },
      stop.signal,
    );
    expect(first.error).toBe('stopped');
    expect(await stored('old-orthanc')).toBeGreaterThanOrEqual(2);
    first = await pullers().orthanc.pull(source);
    expect(first.error).toBeNull();
    expect(await stored('old-orthanc')).toBe(instances.length);
    const again = await pullers().orthanc.pull(source);
    expect(again).toMatchObject({ fetched: 0, error: null });

    // A new instance in Orthanc: only it comes next time.
    const late = makeInstance({
      studyInstanceUid: studies[0]!,
      sopClassUid: CT,
      patientId: 'PULL-0',
      instanceNumber: 9,
    });
    await orthanc.rest('POST', '/instances', late.part10);
    const next = await pullers().orthanc.pull(source);
    expect(next).toMatchObject({ fetched: 1, stored: 1, bytes: late.part10.length });
  });

  it('dicomweb-pull: QIDO-RS + WADO-RS, counts and bytes match, a second run fetches nothing', async () => {
    const source = { name: 'orthanc-web', url: `${orthanc.http}/dicom-web` };
    const r = await pullers().dicomweb.pull(source);
    expect(r.error, `${String(r.error)}\n${orthanc.log().slice(-3000)}`).toBeNull();
    // Already stored by the previous test (same bytes): duplicates, all of them, and the late one.
    expect(r.fetched).toBe(instances.length + 1);
    expect(r.duplicates).toBe(instances.length + 1);
    expect(r.bytes).toBeGreaterThanOrEqual(bytes);
    const again = await pullers().dicomweb.pull(source);
    expect(again).toMatchObject({ fetched: 0, error: null });
  });

  it('a configured pull source runs on request and shows its counters at GET /api/sources', async () => {
    const extra = makeInstance({
      studyInstanceUid: studies[1]!,
      sopClassUid: CT,
      patientId: 'PULL-1',
      instanceNumber: 7,
    });
    await orthanc.rest('POST', '/instances', extra.part10);
    const started = await callApi(s, 'POST', '/api/sources/old-orthanc/pull');
    expect(started.status).toBe(202);
    const view = await until(async () => {
      const { body } = await callApi(s, 'GET', '/api/sources');
      const src = (
        body.sources as { name: string; detail?: string; counters: { stored: number } }[]
      ).find((x) => x.name === 'old-orthanc');
      return src?.detail?.startsWith('last run') ? src : null;
    });
    expect(view.counters.stored).toBe(1);
    expect((await callApi(s, 'POST', '/api/sources/nope/pull')).status).toBe(404);
  });

  it('an unreachable source ends the run with a clear error and keeps the checkpoint', async () => {
    const r = await pullers().orthanc.pull({ name: 'old-orthanc', url: 'http://127.0.0.1:9' });
    expect(r.error).toMatch(/unreachable/);
    expect(r.fetched).toBe(0);
    const w = await pullers().dicomweb.pull({
      name: 'orthanc-web',
      url: 'http://127.0.0.1:9/dicom-web',
    });
    expect(w.error).toMatch(/unreachable/);
  });
});

async function until<T>(check: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
