import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, Database, migrate } from '../../src/database/index.js';
import { PullTickRepository } from '../../src/ingestion/adapters/pull/pull-tick.repository.js';
import { JobLeaseRepository } from '../../src/tiering/job-lease.repository.js';
import { JobRepository } from '../../src/tiering/job.repository.js';
import { createTestDatabase } from '../support/test-database.js';

/**
 * The job-lease SQL against real PostgreSQL, two "nodes" with their own connection pools: claims
 * racing for the same free jobs get disjoint sets (FOR UPDATE SKIP LOCKED), a live lease is never
 * taken, an expired one is (naming its holder), the old holder's renewal then reports it lost, and
 * a parked job waits for a claim that takes parked jobs.
 */
describe('job leases in PostgreSQL', () => {
  let url: string;
  const sources: ReturnType<typeof createDataSource>[] = [];
  let one: Database;
  let two: Database;

  beforeAll(async () => {
    url = await createTestDatabase();
    for (let n = 0; n < 2; n++) {
      const ds = createDataSource(url, 4);
      await ds.initialize();
      sources.push(ds);
    }
    await migrate(sources[0]!);
    one = new Database(sources[0]!);
    two = new Database(sources[1]!);
  });
  afterAll(async () => {
    for (const ds of sources) await ds.destroy();
  });

  const expire = (db: Database, id: string) =>
    db.query(`UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, [id]);

  it('two nodes claiming the same free jobs at once get disjoint sets that cover them all', async () => {
    const jobs = new JobRepository(one);
    const ids: string[] = [];
    for (let n = 0; n < 40; n++) ids.push((await jobs.create('race', { n }, 'test')).id);
    const a = new JobLeaseRepository(one);
    const b = new JobLeaseRepository(two);
    const mine = { include: false, except: [] };
    const rounds = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        (n % 2 ? b : a).claimAvailable(['race'], n % 2 ? 'node-b' : 'node-a', 30_000, 8, mine),
      ),
    );
    const claimed = rounds.flat().map((c) => c.id);
    expect(new Set(claimed).size).toBe(claimed.length); // nobody claimed a job twice
    // What is left is claimed by the next poll; nothing is claimed again.
    const rest = await a.claimAvailable(['race'], 'node-a', 30_000, 100, mine);
    expect([...claimed, ...rest.map((c) => c.id)].sort()).toEqual([...ids].sort());
    expect(await b.claimAvailable(['race'], 'node-b', 30_000, 100, mine)).toEqual([]);
    const holders = await one.query<{ claimed_by: string; n: number }>(
      `SELECT claimed_by, count(*)::int AS n FROM jobs WHERE kind = 'race' GROUP BY 1 ORDER BY 1`,
    );
    expect(holders.reduce((s, h) => s + h.n, 0)).toBe(40);
    expect(holders.map((h) => h.claimed_by).every((h) => /^node-[ab]$/.test(h))).toBe(true);
  });

  it('a live lease is not taken; an expired one is, naming its holder, who then finds it lost', async () => {
    const jobs = new JobRepository(one);
    const job = await jobs.create('tier-move', {}, 'test', { node: 'node-a', leaseMs: 30_000 });
    const a = new JobLeaseRepository(one);
    const b = new JobLeaseRepository(two);
    expect(await b.claim(job.id, 'node-b', 30_000, false)).toBeNull();
    expect(
      await b.claimAvailable(['tier-move'], 'node-b', 30_000, 10, { include: true, except: [] }),
    ).toEqual([]);
    expect(await a.renew([job.id], 'node-a', 30_000)).toEqual([job.id]);
    await expire(one, job.id);
    const [taken] = await b.claimAvailable(['tier-move'], 'node-b', 30_000, 10, {
      include: false,
      except: [],
    });
    expect(taken).toMatchObject({ id: job.id, kind: 'tier-move', previousHolder: 'node-a' });
    expect(taken!.previousLeaseUntil).toMatch(/^\d{4}-/);
    expect(await a.renew([job.id], 'node-a', 30_000)).toEqual([]);
    // Its own job again (a restart): no take-over reported.
    expect(await b.claim(job.id, 'node-b', 30_000, false)).toMatchObject({ previousHolder: null });
    // A finished job is nobody's to claim.
    await jobs.finish(job.id, null);
    await expire(one, job.id);
    expect(await a.claim(job.id, 'node-a', 30_000, false)).toBeNull();
  });

  it("a pull source's scheduled tick is claimed by one node; a later tick by whoever is first", async () => {
    const ticks = new PullTickRepository();
    const at = new Date('2026-07-01T02:00:00Z');
    const won = await Promise.all([
      ticks.claim(one, 'pacs', at, 'node-a'),
      ticks.claim(two, 'pacs', at, 'node-b'),
    ]);
    expect(won.filter(Boolean)).toHaveLength(1);
    // A node whose cron fired late, for the same tick: nothing.
    expect(await ticks.claim(one, 'pacs', at, 'node-a')).toBe(false);
    expect(await ticks.claim(two, 'pacs', new Date(at.getTime() + 60_000), 'node-b')).toBe(true);
    // Another source's ticks are its own.
    expect(await ticks.claim(one, 'other', at, 'node-a')).toBe(true);
  });

  it('a released job is free at once; a parked one only for a claim that takes parked jobs', async () => {
    const jobs = new JobRepository(one);
    const released = await jobs.create('sweep', {}, 'test', { node: 'node-a', leaseMs: 30_000 });
    const parked = await jobs.create('sweep', {}, 'test', { node: 'node-a', leaseMs: 30_000 });
    const a = new JobLeaseRepository(one);
    const b = new JobLeaseRepository(two);
    await a.release(released.id, 'node-a', false);
    await a.release(parked.id, 'node-a', true);
    const free = await b.claimAvailable(['sweep'], 'node-b', 30_000, 10, {
      include: false,
      except: [],
    });
    expect(free.map((c) => c.id)).toEqual([released.id]);
    expect(free[0]!.previousHolder).toBeNull();
    expect(await b.claim(parked.id, 'node-b', 30_000, false)).toBeNull();
    expect(await b.claim(parked.id, 'node-b', 30_000, true)).toMatchObject({
      previousHolder: 'node-a',
    });
    // The node that parked it takes it back at its restart (its own id), even without a tick.
    const again = await jobs.create('sweep', {}, 'test', { node: 'node-a', leaseMs: 30_000 });
    await a.release(again.id, 'node-a', true);
    const back = await a.claimAvailable(['sweep'], 'node-a', 30_000, 10, {
      include: true,
      except: [],
    });
    expect(back.map((c) => c.id)).toEqual([again.id]);
  });
});
