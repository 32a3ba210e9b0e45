import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { type Fault, startFaultyProxy } from '../support/faulty-proxy.js';
import { createTestBucket, s3Endpoint } from '../support/s3.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { bucketKeys, folderKeys } from '../support/tiers.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/**
 * Moves onto a warm tier whose S3 endpoint misbehaves: a proxy in front of the real s3rver
 * injects 503 SlowDown, 500 InternalError and hung requests on object uploads.
 */
describe('moves to a failing S3 endpoint: retried, or failed with a clear error, losing nothing', () => {
  let s: TestStrata;
  let dataDir: string;
  let bucket: string;
  let proxy: Awaited<ReturnType<typeof startFaultyProxy>>;
  /** What the proxy does to each object upload (PUT of a key), by its running number. */
  let onPut: (n: number) => Fault = () => null;
  let puts = 0;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-s3-faults-'));
    bucket = await createTestBucket();
    proxy = await startFaultyProxy(s3Endpoint(), (req) =>
      req.method === 'PUT' && req.url !== `/${bucket}` ? onPut(++puts) : null,
    );
    s = await startTestStrata({
      dataDir,
      configYaml: `storage:
  backends:
    local: { type: filesystem, path: '${join(dataDir, 'objects', 'hot')}' }
    flaky: { type: s3, bucket: ${bucket}, endpoint: '${proxy.endpoint}', forcePathStyle: true, accessKeyId: S3RVER, secretAccessKey: S3RVER, maxAttempts: 3, requestTimeoutMs: 1500 }
  tiers:
    hot: { backend: local }
    warm: { backend: flaky }
fixity: { schedule: 'off' }
`,
    });
  });
  afterAll(async () => {
    await s?.stop();
    await proxy?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const newStudy = async () => {
    const study = newUid();
    const instances = [0, 1].map(() =>
      makeInstance({ studyInstanceUid: study, sopClassUid: CT, pixelBytes: 20_000 }),
    );
    await stowAll(
      s.httpUrl,
      s.auth,
      instances.map((i) => i.part10),
    );
    return { study, instances };
  };
  const move = async (study: string) => {
    const started = await callApi(s, 'POST', `/api/studies/${study}/move`, { tier: 'warm' });
    expect(started.status).toBe(202);
    return waitForJob(s, String(started.body.id));
  };
  const tiersOf = async (study: string) =>
    (
      await s.running.database.database.query<{ tier: string }>(
        `SELECT l.tier FROM locations l JOIN blobs b ON b.id = l.blob_fk WHERE b.study_instance_uid = $1`,
        [study],
      )
    ).map((r) => r.tier);
  /** Every object where a location says, in the folder and in the bucket: nothing orphaned. */
  const expectNothingOrphaned = async () => {
    const locations = await s.running.database.database.query<{ backend: string; key: string }>(
      'SELECT backend, key FROM locations ORDER BY key',
    );
    const keys = (backend: string) =>
      locations
        .filter((l) => l.backend === backend)
        .map((l) => l.key)
        .sort();
    expect(folderKeys(join(dataDir, 'objects', 'hot'))).toEqual(keys('local'));
    expect(await bucketKeys(bucket)).toEqual(keys('flaky'));
  };

  it('503 SlowDown and 500 now and then: retried with backoff, and the move completes', async () => {
    const { study, instances } = await newStudy();
    puts = 0;
    onPut = (n) =>
      n === 1
        ? { status: 503, code: 'SlowDown' }
        : n === 3
          ? { status: 500, code: 'InternalError' }
          : null;
    const job = await move(study);
    expect(job).toMatchObject({ status: 'done', error: null });
    expect(puts).toBeGreaterThanOrEqual(4); // 2 objects + 2 retried attempts
    expect(await tiersOf(study)).toEqual(['warm', 'warm']);
    for (const i of instances) {
      expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
    }
    await expectNothingOrphaned();
  });

  it('an endpoint that keeps failing: the job fails naming the backend and the error; the study stays whole', async () => {
    const { study, instances } = await newStudy();
    onPut = () => ({ status: 500, code: 'InternalError' });
    const job = await move(study);
    expect(job.status).toBe('failed');
    expect(String(job.error)).toMatch(/flaky/);
    expect(String(job.error)).toMatch(/InternalError|500/);
    expect(await tiersOf(study)).toEqual(['hot', 'hot']);
    for (const i of instances) {
      expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
    }
    await expectNothingOrphaned();
    const audit = await s.running.database.database.query<{ outcome: string }>(
      `SELECT outcome FROM audit_events WHERE action = 'study.moved' AND study_instance_uid = $1`,
      [study],
    );
    expect(audit).toEqual([{ outcome: 'failure' }]);

    // A hung endpoint times out the same way.
    onPut = () => 'hang';
    const hung = await move(study);
    expect(hung.status).toBe('failed');
    expect(await tiersOf(study)).toEqual(['hot', 'hot']);

    // Once the endpoint is healthy, the same move succeeds.
    onPut = () => null;
    expect(await move(study)).toMatchObject({ status: 'done', error: null });
    expect(await tiersOf(study)).toEqual(['warm', 'warm']);
    await expectNothingOrphaned();
  }, 60_000);
});
