import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/**
 * Many requests into the same new studies at once, so that the first instances of each study and
 * series race each other and instances of known series: every one is stored (no deadlock, no
 * lost update), and the study's denormalised counters add up.
 */
describe('concurrent ingest into the same studies and series', () => {
  let s: TestStrata;
  beforeAll(async () => {
    s = await startTestStrata();
  });
  afterAll(async () => {
    await s?.stop();
    removeDataDir(s.dataDir);
  });

  it('stores every instance of 3 studies × 3 series × 20 sent 8 requests at a time', async () => {
    const studies = [0, 1, 2].map(() => ({
      uid: newUid(),
      series: [newUid(), newUid(), newUid()],
    }));
    const instances = studies.flatMap((st) =>
      st.series.flatMap((se) =>
        Array.from({ length: 20 }, () =>
          makeInstance({
            studyInstanceUid: st.uid,
            seriesInstanceUid: se,
            sopClassUid: CT,
            pixelBytes: 2_000,
          }),
        ),
      ),
    );
    // Interleaved, 3 instances a request: each request mixes studies and series.
    const order = instances.map((_, n) => instances[(n * 7) % instances.length]!);
    const requests: Buffer[][] = [];
    for (let n = 0; n < order.length; n += 3)
      requests.push(order.slice(n, n + 3).map((i) => i.part10));
    let next = 0;
    const statuses: number[] = [];
    const sender = async () => {
      for (let r = requests[next++]; r; r = requests[next++]) {
        statuses.push((await stow(s.httpUrl, s.auth, r)).status);
      }
    };
    await Promise.all(Array.from({ length: 8 }, sender));
    expect(statuses.every((x) => x === 200)).toBe(true);

    const rows = await s.running.database.database.query<{
      study_instance_uid: string;
      number_of_instances: number;
      number_of_series: number;
    }>(
      `SELECT study_instance_uid, number_of_instances, number_of_series FROM studies
        WHERE study_instance_uid = ANY($1::text[]) ORDER BY study_instance_uid`,
      [studies.map((st) => st.uid)],
    );
    expect(rows).toHaveLength(3);
    for (const row of rows)
      expect(row).toMatchObject({ number_of_instances: 60, number_of_series: 3 });
    const series = await s.running.database.database.query<{ n: number }>(
      `SELECT se.number_of_instances AS n FROM series se JOIN studies st ON st.id = se.study_fk
        WHERE st.study_instance_uid = ANY($1::text[])`,
      [studies.map((st) => st.uid)],
    );
    expect(series.map((r) => r.n)).toEqual(Array(9).fill(20));
  }, 120_000);
});
