import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportCommand } from '../../src/cli/export.command.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { createTestBucket, s3Endpoint } from '../support/s3.js';
import { startTestStrata, type TestStrata, testEnv } from '../support/strata-harness.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/**
 * Reads from an archive storage class. s3rver has no Glacier semantics, so the cold tier's backend
 * runs with `simulateRestoreSeconds` (SimulatedArchiveBackend in front of the real s3rver): GLACIER
 * objects answer InvalidObjectState until a restore is requested and 2 s have passed.
 */
describe('reading a study from the cold tier (Glacier): restore, "not yet", then served', () => {
  let s: TestStrata;
  let dataDir: string;
  const study = newUid();
  let instances: ReturnType<typeof makeInstance>[];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-restore-'));
    const bucket = await createTestBucket();
    s = await startTestStrata({
      dataDir,
      configYaml: `storage:
  backends:
    local: { type: filesystem, path: '${join(dataDir, 'objects', 'hot')}' }
    glacier: { type: s3, bucket: ${bucket}, endpoint: '${s3Endpoint()}', forcePathStyle: true, accessKeyId: S3RVER, secretAccessKey: S3RVER, simulateRestoreSeconds: 2 }
  tiers:
    hot: { backend: local }
    cold: { backend: glacier, storageClass: GLACIER, restore: { days: 1, tier: Expedited } }
`,
    });
    instances = [0, 1, 2].map(() => makeInstance({ studyInstanceUid: study, sopClassUid: CT }));
    await stowAll(
      s.httpUrl,
      s.auth,
      instances.map((i) => i.part10),
    );
    const moved = await callApi(s, 'POST', `/api/studies/${study}/move`, { tier: 'cold' });
    expect(moved.status).toBe(202);
    expect((await waitForJob(s, String(moved.body.id))).status).toBe('done');
  });
  afterAll(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const wado = () =>
    fetch(`${s.httpUrl}/dicomweb/studies/${study}`, {
      headers: {
        authorization: s.auth,
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
      },
    });
  /** WADO-RS bulk data: the first instance's Pixel Data. */
  const pixelData = () => {
    const i = instances[0]!;
    return fetch(
      `${s.httpUrl}/dicomweb/studies/${study}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}/bulkdata/7FE00010`,
      {
        headers: {
          authorization: s.auth,
          accept: 'multipart/related; type="application/octet-stream"',
        },
      },
    );
  };
  const restoreRequests = async () =>
    (
      await s.running.database.database.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'study.restore-requested' AND study_instance_uid = $1`,
        [study],
      )
    )[0]!.n;

  it('the first read asks for the restore and answers 503 with Retry-After and when', async () => {
    const res = await wado();
    expect(res.status).toBe(503);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const body = (await res.json()) as {
      detail: string;
      studyInstanceUid: string;
      expectedAt: string;
    };
    expect(body.studyInstanceUid).toBe(study);
    expect(body.detail).toMatch(/being restored .* not yet available; expected by/);
    expect(Date.parse(body.expectedAt)).toBeGreaterThan(Date.now());
    expect(await restoreRequests()).toBe(1);
  });

  it('reads meanwhile, bulk data too, get the same answer, and no second restore request', async () => {
    expect((await wado()).status).toBe(503);
    expect((await wado()).status).toBe(503);
    const bulk = await pixelData();
    expect(bulk.status).toBe(503);
    expect(Number(bulk.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await bulk.json()) as { studyInstanceUid: string }).studyInstanceUid).toBe(study);
    expect(await restoreRequests()).toBe(1);
  });

  it('once restored, the study is served byte for byte', async () => {
    await new Promise((r) => setTimeout(r, 2_200));
    for (const i of instances) {
      expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
    }
    const bulk = await pixelData();
    expect(bulk.status).toBe(200);
  });

  it('a move out of the cold tier requests the restore, waits for it, then completes', async () => {
    const other = newUid();
    const more = [0, 1].map(() => makeInstance({ studyInstanceUid: other, sopClassUid: CT }));
    await stowAll(
      s.httpUrl,
      s.auth,
      more.map((i) => i.part10),
    );
    const waitJob = (id: string) => waitForJob(s, id);
    const down = await callApi(s, 'POST', `/api/studies/${other}/move`, { tier: 'cold' });
    expect((await waitJob(String(down.body.id))).status).toBe('done');
    const started = Date.now();
    const up = await callApi(s, 'POST', `/api/studies/${other}/move`, { tier: 'hot' });
    const job = await waitJob(String(up.body.id));
    expect(job).toMatchObject({ status: 'done', error: null });
    // The copies were archived: the move had to wait for their (2 s) restore.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    for (const i of more) {
      expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
    }
    const tiers = await s.running.database.database.query<{ tier: string }>(
      `SELECT DISTINCT l.tier FROM locations l JOIN blobs b ON b.id = l.blob_fk WHERE b.study_instance_uid = $1`,
      [other],
    );
    expect(tiers).toEqual([{ tier: 'hot' }]);
  });

  it('strata export of a cold study asks for the restore and exports nothing until it is done', async () => {
    const out = join(dataDir, 'export-cold');
    const env = testEnv(dataDir, s.databaseUrl, {
      STRATA_CONFIG: join(dataDir, 'strata.config.yaml'),
    });
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((m: unknown) => void errors.push(String(m)));
    let code: number;
    try {
      // In this process: the export's own (fresh) simulated archive sees the GLACIER class s3rver kept.
      code = await exportCommand(['--study', study, '--format', 'dcm', '--out', out], {
        log: () => undefined,
        warn: () => undefined,
      });
    } finally {
      spy.mockRestore();
      process.env = saved;
    }
    expect(code).toBe(1);
    expect(errors.join('\n')).toMatch(
      /3 instance\(s\) of the study are in archive storage and being restored .*nothing was exported/,
    );
    expect(existsSync(out)).toBe(false);
    const [audit] = await s.running.database.database.query<{
      instances: number;
      detail: { for: string };
    }>(
      `SELECT instances, detail FROM audit_events WHERE action = 'study.restore-requested'
        AND study_instance_uid = $1 ORDER BY seq DESC LIMIT 1`,
      [study],
    );
    expect(audit).toMatchObject({ instances: 3, detail: { for: 'export' } });
  });
});
