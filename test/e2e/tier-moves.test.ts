import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { createTestBucket, s3Directory } from '../support/s3.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';
import {
  bucketKeys,
  expectBackendsMatchLocations,
  folderKeys,
  threeTierYaml,
} from '../support/tiers.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
type Instance = ReturnType<typeof makeInstance>;

interface JobView {
  id: string;
  status: string;
  total: number;
  done: number;
  bytesDone: number;
  error: string | null;
}

describe('tier moves: copy → verify → add → remove, across filesystem and S3', () => {
  let s: TestStrata;
  let dataDir: string;
  let bucket: string;
  const study = newUid();
  const seriesA = newUid();
  const seriesB = newUid();
  let instances: Instance[];

  const api = (method: string, path: string, body?: unknown) => callApi(s, method, path, body);

  async function move(path: string, tier: string): Promise<JobView> {
    const res = await api('POST', path, { tier });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return (await waitForJob(s, String(res.body.id))) as unknown as JobView;
  }

  const retrieve = (i: Instance) => retrieveDataset(s.httpUrl, s.auth, i);

  const tiersOf = async () => {
    const { body } = await api('GET', `/api/studies/${study}`);
    return (
      body.series as { seriesInstanceUid: string; tiers: { tier: string; objects: number }[] }[]
    )
      .map((se) => ({
        series: se.seriesInstanceUid,
        tiers: se.tiers.map((t) => `${t.tier}:${t.objects}`),
      }))
      .sort((a, b) => a.series.localeCompare(b.series));
  };
  const expected = (a: string, b: string) =>
    [
      { series: seriesA, tiers: [a] },
      { series: seriesB, tiers: [b] },
    ].sort((x, y) => x.series.localeCompare(y.series));

  const sql = (text: string) =>
    s.running.database.database.query<{ backend: string; key: string }>(text);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-tiers-'));
    bucket = await createTestBucket();
    s = await startTestStrata({ dataDir, configYaml: threeTierYaml(dataDir, bucket) });
    instances = [
      ...[0, 1, 2].map(() =>
        makeInstance({
          studyInstanceUid: study,
          seriesInstanceUid: seriesA,
          sopClassUid: CT,
          patientName: 'TIER^PLAINTEXT',
          pixelBytes: 200_000,
        }),
      ),
      ...[0, 1].map(() =>
        makeInstance({
          studyInstanceUid: study,
          seriesInstanceUid: seriesB,
          sopClassUid: CT,
          pixelBytes: 7 * 1024 * 1024,
        }),
      ),
    ];
    await stowAll(
      s.httpUrl,
      s.auth,
      instances.map((i) => i.part10),
    );
  });
  afterAll(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['hot', 'warm'],
    ['warm', 'cold'],
    ['cold', 'hot'],
    ['hot', 'cold'],
    ['cold', 'warm'],
    ['warm', 'hot'],
  ])(
    'a whole study %s → %s: every instance reads back byte for byte, nothing left behind',
    async (_from, to) => {
      const job = await move(`/api/studies/${study}/move`, to);
      expect(job).toMatchObject({ status: 'done', total: 5, done: 5, error: null });
      expect(await tiersOf()).toEqual(expected(`${to}:3`, `${to}:2`));
      for (const i of instances) expect((await retrieve(i)).equals(i.dataset)).toBe(true);
      await expectBackendsMatchLocations(sql, dataDir, bucket);
    },
  );

  it('one series only, and a move to where it already is does nothing', async () => {
    const job = await move(`/api/studies/${study}/series/${seriesB}/move`, 'cold');
    expect(job.status).toBe('done');
    expect(await tiersOf()).toEqual(expected('hot:3', 'cold:2'));
    const again = await move(`/api/studies/${study}/series/${seriesB}/move`, 'cold');
    expect(again).toMatchObject({ status: 'done', bytesDone: 0 });
    await expectBackendsMatchLocations(sql, dataDir, bucket);
  });

  it('concurrent moves of one study are serialised: the last one asked wins, nothing is lost', async () => {
    const first = await api('POST', `/api/studies/${study}/move`, { tier: 'warm' });
    const second = await api('POST', `/api/studies/${study}/move`, { tier: 'cold' });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect((await waitForJob(s, String(first.body.id))).status).toBe('done');
    expect((await waitForJob(s, String(second.body.id))).status).toBe('done');
    expect(await tiersOf()).toEqual(expected('cold:3', 'cold:2'));
    for (const i of instances) expect((await retrieve(i)).equals(i.dataset)).toBe(true);
    await expectBackendsMatchLocations(sql, dataDir, bucket);
  });

  it('no plaintext in any tier', async () => {
    await move(`/api/studies/${study}/series/${seriesA}/move`, 'warm');
    const files = [
      ...folderKeys(join(dataDir, 'objects', 'hot')).map((k) => join(dataDir, 'objects', 'hot', k)),
      ...folderKeys(join(dataDir, 'objects', 'cold')).map((k) =>
        join(dataDir, 'objects', 'cold', k),
      ),
      // s3rver keeps each object's bytes in '<key>._S3rver_object' (beside metadata and md5 files).
      ...folderKeys(join(s3Directory(), bucket))
        .filter((k) => k.endsWith('._S3rver_object'))
        .map((k) => join(s3Directory(), bucket, k)),
    ];
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f);
      expect(bytes[0], f).toBe(0xd2);
      expect(bytes.includes(Buffer.from('TIER^PLAINTEXT'))).toBe(false);
      expect(bytes.includes(instances[0]!.dataset.subarray(0, 64))).toBe(false);
    }
  });

  it('an object deleted behind the archive: the job fails saying why, the catalog keeps the rest', async () => {
    // Series A is on warm (S3) now: remove one of its objects from the cold-tier-bound move's source.
    const [loc] = await s.running.database.database.query<{ key: string }>(
      `SELECT l.key FROM locations l WHERE l.backend = 'archive' ORDER BY l.id LIMIT 1`,
    );
    rmSync(join(s3Directory(), bucket, `${loc!.key}._S3rver_object`));
    const job = await move(`/api/studies/${study}/series/${seriesA}/move`, 'cold');
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/missing|did not verify|failed/);
    // The audit trail says so.
    const events = await s.running.database.database.query<{ outcome: string }>(
      `SELECT outcome FROM audit_events WHERE action = 'study.moved' ORDER BY seq DESC LIMIT 1`,
    );
    expect(events).toEqual([{ outcome: 'failure' }]);
  });

  it('a damaged source copy is not moved: the job fails saying so, and the copy stays put', async () => {
    const other = makeInstance({ studyInstanceUid: newUid(), sopClassUid: CT });
    await stowAll(s.httpUrl, s.auth, [other.part10]);
    const [loc] = await s.running.database.database.query<{ key: string }>(
      `SELECT l.key FROM locations l JOIN blobs b ON b.id = l.blob_fk WHERE b.study_instance_uid = $1`,
      [other.studyInstanceUid],
    );
    const file = join(dataDir, 'objects', 'hot', loc!.key);
    const bytes = readFileSync(file);
    bytes[bytes.length - 100]! ^= 0x01;
    writeFileSync(file, bytes);
    const before = await bucketKeys(bucket);
    const job = await move(`/api/studies/${other.studyInstanceUid}/move`, 'warm');
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/does not match its digest/);
    expect(await bucketKeys(bucket)).toEqual(before);
    const after = await s.running.database.database.query<{ key: string; tier: string }>(
      `SELECT l.key, l.tier FROM locations l JOIN blobs b ON b.id = l.blob_fk WHERE b.study_instance_uid = $1`,
      [other.studyInstanceUid],
    );
    expect(after).toEqual([{ key: loc!.key, tier: 'hot' }]);
  });

  it('bad requests are refused with a problem body', async () => {
    expect((await api('POST', `/api/studies/${study}/move`, { tier: 'lukewarm' })).status).toBe(
      400,
    );
    expect((await api('POST', `/api/studies/${study}/move`)).status).toBe(400);
    expect((await api('POST', `/api/studies/1.2.3.999/move`, { tier: 'warm' })).status).toBe(404);
    expect((await api('POST', `/api/studies/not-a-uid/move`, { tier: 'warm' })).status).toBe(400);
    expect((await api('GET', `/api/jobs/999999`)).status).toBe(404);
    expect((await api('GET', `/api/studies/1.2.3.999`)).status).toBe(404);
  });
});
