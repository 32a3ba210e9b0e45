import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { JobLeases } from '../../src/tiering/index.js';
import { createTestBucket } from '../support/s3.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';
import { threeTierYaml } from '../support/tiers.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

describe('fixity: every copy decrypted and checked against its digest; bad ones marked and repaired', () => {
  let s: TestStrata;
  let dataDir: string;
  const study = newUid();
  let instances: ReturnType<typeof makeInstance>[];

  const api = (method: string, path: string, body?: unknown) => callApi(s, method, path, body);
  const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    s.running.database.database.query<T>(text, params);

  async function fixity(body: Record<string, unknown>) {
    const res = await api('POST', '/api/fixity', body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return waitForJob(s, String(res.body.id));
  }

  /** Hot-tier object key of an instance's current version. */
  async function keyOf(i: ReturnType<typeof makeInstance>, tier = 'hot') {
    const [row] = await sql<{ key: string; blob_fk: string; stored_size: string }>(
      `SELECT l.key, l.blob_fk, l.stored_size FROM instances x
         JOIN instance_versions v ON v.id = x.current_version_fk
         JOIN locations l ON l.blob_fk = v.blob_fk
        WHERE x.sop_instance_uid = $1 AND l.tier = $2`,
      [i.sopInstanceUid, tier],
    );
    return row!;
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-fixity-'));
    s = await startTestStrata({
      dataDir,
      configYaml: threeTierYaml(dataDir, await createTestBucket()),
    });
    instances = [0, 1, 2, 3].map(() =>
      makeInstance({ studyInstanceUid: study, sopClassUid: CT, pixelBytes: 100_000 }),
    );
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

  it('an intact archive: every copy checked and good', async () => {
    const job = await fixity({});
    expect(job).toMatchObject({ status: 'done', total: 4 });
    expect(job.result).toEqual({
      checked: 4,
      byChecksum: 0, // copies in folders have no server checksum: read and decrypted
      ok: 4,
      missing: 0,
      corrupt: 0,
      unreadable: 0,
      repaired: 0,
      unrepaired: 0,
    });
    const [{ n }] = await sql<{ n: number }>(
      'SELECT count(*)::int AS n FROM locations WHERE verified_at IS NULL',
    );
    expect(n).toBe(0);
  });

  it("a run whose node died is taken over and goes on from its last batch's cursor", async () => {
    // A run another node began, checkpointed after its first copy, and then went silent.
    const locations = await sql<{ id: string }>(
      `SELECT id::text FROM locations WHERE tier IN ('hot', 'warm') ORDER BY id`,
    );
    const after = locations[0]!.id;
    const last = locations.at(-1)!.id;
    const saved = {
      checked: 1,
      byChecksum: 0,
      ok: 1,
      missing: 0,
      corrupt: 0,
      unreadable: 0,
      repaired: 0,
      unrepaired: 0,
    };
    const [{ id }] = (await sql<{ id: string }>(
      `INSERT INTO jobs (kind, status, params, actor, total, done, result, started_at,
                         claimed_by, lease_until)
       VALUES ('fixity', 'running', $1, 'dead-node-test', $2, 1, $3, now(),
               'dead-node', now() - interval '1 second')
       RETURNING id::text`,
      [
        JSON.stringify({ tier: null, samplePercent: 100, includeCold: false, deep: false }),
        locations.length,
        JSON.stringify({ ...saved, after, last, planned: locations.length, bytes: 0 }),
      ],
    )) as [{ id: string }];
    // The poll that would find it within jobs.leaseSeconds, run now.
    await s.running.app.get(JobLeases, { strict: false }).beat();
    const job = await waitForJob(s, id);
    expect(job.status).toBe('done');
    // The first copy is not checked twice; every other one once.
    expect(job.result).toMatchObject({ checked: locations.length, ok: locations.length });
    const [takeover] = await sql<{ detail: Record<string, unknown> }>(
      `SELECT detail FROM audit_events WHERE action = 'job.taken-over' ORDER BY seq DESC LIMIT 1`,
    );
    expect(takeover?.detail).toMatchObject({ job: id, kind: 'fixity', from: 'dead-node' });
  });

  it('a flipped bit and a deleted file: both marked and audited; the one with a good copy repaired', async () => {
    const hot = join(dataDir, 'objects', 'hot');
    const damaged = await keyOf(instances[0]!);
    const deleted = await keyOf(instances[1]!);
    // A second copy of the first instance on the cold tier (a replica), to repair from.
    const replicaKey = `abc/replica-${newUid().slice(-8)}.pgp`;
    const replica = join(dataDir, 'objects', 'cold', replicaKey);
    mkdirSync(dirname(replica), { recursive: true });
    copyFileSync(join(hot, damaged.key), replica);
    await sql(
      `INSERT INTO locations (blob_fk, backend, key, tier, stored_size, status) VALUES ($1, 'vault', $2, 'cold', $3, 'ok')`,
      [damaged.blob_fk, replicaKey, damaged.stored_size],
    );
    const bytes = readFileSync(join(hot, damaged.key));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(hot, damaged.key), bytes);
    rmSync(join(hot, deleted.key));

    const job = await fixity({ tier: 'hot' });
    expect(job.result).toEqual({
      checked: 4,
      byChecksum: 0, // copies in folders have no server checksum: read and decrypted
      ok: 2,
      missing: 1,
      corrupt: 1,
      unreadable: 0,
      repaired: 1,
      unrepaired: 1,
    });
    // The damaged one is whole again on hot, under a new key, and reads back byte for byte.
    const repaired = await keyOf(instances[0]!);
    expect(repaired.key).not.toBe(damaged.key);
    expect(
      (await retrieveDataset(s.httpUrl, s.auth, instances[0]!)).equals(instances[0]!.dataset),
    ).toBe(true);
    // The deleted one has no good copy: it stays marked, and reads no longer use it.
    const [gone] = await sql<{ status: string }>(`SELECT status FROM locations WHERE key = $1`, [
      deleted.key,
    ]);
    expect(gone!.status).toBe('missing');
    const events = await sql<{ action: string; outcome: string }>(
      `SELECT action, outcome FROM audit_events WHERE action IN ('location.fixity-failed', 'location.repaired', 'fixity.checked') ORDER BY seq`,
    );
    // Copies are checked a few at a time: the per-copy events come in any order, the summary last.
    const last = events.slice(-4);
    expect(
      last
        .slice(0, 3)
        .map((e) => `${e.action} ${e.outcome}`)
        .sort(),
    ).toEqual([
      'location.fixity-failed failure',
      'location.fixity-failed failure',
      'location.repaired success',
    ]);
    expect(last[3]).toEqual({ action: 'fixity.checked', outcome: 'failure' });

    // Metrics: what the runs found, and the copies marked bad now (the deleted one).
    const metrics = await fetch(`${s.httpUrl}/metrics`, { headers: { authorization: s.auth } });
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('strata_fixity_copies_checked_total{tier="hot",result="missing"}')).toBe(1);
    expect(value('strata_fixity_copies_checked_total{tier="hot",result="corrupt"}')).toBe(1);
    expect(value('strata_fixity_copies_repaired_total{tier="hot"}')).toBe(1);
    expect(value('strata_copies_bad{tier="hot",status="missing"}')).toBe(1);
    expect(value('strata_copies_bad{tier="hot",status="corrupt"}')).toBe(0);
    expect(value('strata_fixity_last_run_end_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    expect((await fetch(`${s.httpUrl}/metrics`)).status).toBe(401);
  });

  it('reads the cold tier only when asked', async () => {
    const unverifiedCold = async () =>
      (
        await sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM locations WHERE tier = 'cold' AND verified_at IS NULL`,
        )
      )[0]!.n;
    expect(await unverifiedCold()).toBe(1);
    await fixity({});
    expect(await unverifiedCold()).toBe(1);
    const job = await fixity({ includeCold: true });
    expect(job.status).toBe('done');
    expect(await unverifiedCold()).toBe(0);
  });

  it('a sample checks that share of the copies', async () => {
    const [{ n }] = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM locations WHERE tier <> 'cold'`,
    );
    const job = await fixity({ samplePercent: 50 });
    expect(job.total).toBe(Math.ceil(n / 2));
  });

  it('refuses bad requests with a problem body', async () => {
    for (const body of [
      { samplePercent: 0 },
      { tier: 'lukewarm' },
      { includeCold: 'yes' },
      { tiers: 'hot' },
    ]) {
      expect((await api('POST', '/api/fixity', body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});
