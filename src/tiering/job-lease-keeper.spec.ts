import { describe, expect, it } from 'vitest';
import { type JobRunner, LeaseKeeper } from './job-lease-keeper.js';
import { type ClaimedJob, type JobLeaseStore } from './job-lease.repository.js';

/** The jobs table's lease columns in memory, with a clock the test moves (the database's now()). */
class FakeStore implements JobLeaseStore {
  now = 0;
  readonly jobs = new Map<
    string,
    { kind: string; status: string; claimedBy: string | null; until: number | null }
  >();

  add(id: string, kind: string, claimedBy: string | null = null, until: number | null = null) {
    this.jobs.set(id, { kind, status: 'running', claimedBy, until });
  }

  private take(id: string, node: string, leaseMs: number): ClaimedJob {
    const j = this.jobs.get(id)!;
    const taken: ClaimedJob = {
      id,
      kind: j.kind,
      previousHolder: j.claimedBy === node ? null : j.claimedBy,
      previousLeaseUntil:
        j.claimedBy === node || j.until === null
          ? null
          : j.until === Infinity
            ? 'infinity'
            : String(j.until),
    };
    j.claimedBy = node;
    j.until = this.now + leaseMs;
    return taken;
  }

  async claim(id: string, node: string, leaseMs: number, evenParked: boolean) {
    const j = this.jobs.get(id);
    if (!j || (j.status !== 'queued' && j.status !== 'running')) return null;
    const free =
      j.claimedBy === null ||
      j.claimedBy === node ||
      j.until! < this.now ||
      (evenParked && j.until === Infinity);
    return free ? this.take(id, node, leaseMs) : null;
  }

  async claimAvailable(
    kinds: readonly string[],
    node: string,
    leaseMs: number,
    limit: number,
    mine: { include: boolean; except: readonly string[] },
  ) {
    const out: ClaimedJob[] = [];
    for (const [id, j] of this.jobs) {
      if (out.length >= limit) break;
      if (!kinds.includes(j.kind) || (j.status !== 'queued' && j.status !== 'running')) continue;
      const ours = mine.include && j.claimedBy === node && !mine.except.includes(id);
      if (j.claimedBy === null || j.until! < this.now || ours)
        out.push(this.take(id, node, leaseMs));
    }
    return out;
  }

  async renew(ids: readonly string[], node: string, leaseMs: number) {
    const kept: string[] = [];
    for (const id of ids) {
      const j = this.jobs.get(id);
      if (j && j.claimedBy === node && j.until !== Infinity) {
        j.until = this.now + leaseMs;
        kept.push(id);
      }
    }
    return kept;
  }

  async release(id: string, node: string, park: boolean) {
    const j = this.jobs.get(id);
    if (!j || j.claimedBy !== node) return;
    if (park) j.until = Infinity;
    else {
      j.claimedBy = null;
      j.until = null;
    }
  }
}

function keeper(store: FakeStore, node: string) {
  const warnings: string[] = [];
  const takeovers: ClaimedJob[] = [];
  const resumed: string[] = [];
  const k = new LeaseKeeper(store, node, 2000, {
    warn: (m) => warnings.push(m),
    tookOver: async (job) => void takeovers.push(job),
  });
  let spare = 1;
  const runner: JobRunner = {
    kinds: ['tier-move'],
    spare: () => spare,
    resume: (id) => resumed.push(id),
  };
  k.register(runner);
  return { k, warnings, takeovers, resumed, setSpare: (n: number) => (spare = n) };
}

describe('LeaseKeeper', () => {
  it('a node that stops renewing loses its job to another after the lease; it then sees it lost', async () => {
    const store = new FakeStore();
    const a = keeper(store, 'node-a');
    const b = keeper(store, 'node-b');
    store.add('7', 'tier-move');
    expect(await a.k.claim('7')).toBe(true);
    // B polls while A's lease is live: nothing for it.
    await b.k.beat(true);
    await b.k.beat(true);
    expect(b.resumed).toEqual([]);
    // A renews in time: still A's.
    store.now = 1500;
    await a.k.beat(false);
    store.now = 3000;
    await b.k.beat(true);
    expect(b.resumed).toEqual([]);
    // A goes quiet (killed, or a long pause) past its lease: B takes it over, audited once.
    store.now = 3600;
    await b.k.beat(true);
    expect(b.resumed).toEqual(['7']);
    expect(b.k.holds('7')).toBe(true);
    expect(b.takeovers).toMatchObject([{ id: '7', previousHolder: 'node-a' }]);
    expect(b.warnings.join()).toMatch(/job 7 \(tier-move\): taken over by node-b from node-a/);
    // A, back, finds out at its next renewal and stops holding it.
    expect(a.k.holds('7')).toBe(true);
    await a.k.beat(false);
    expect(a.k.holds('7')).toBe(false);
    expect(a.warnings.join()).toMatch(/job 7: this node \(node-a\) lost its lease/);
    // B keeps it by renewing.
    store.now = 5000;
    await b.k.beat(true);
    expect(b.k.holds('7')).toBe(true);
    expect(store.jobs.get('7')!.until).toBe(7000);
  });

  it('a restarted node takes its own jobs back at its first poll, without waiting for the lease', async () => {
    const store = new FakeStore();
    store.add('1', 'tier-move', 'node-a', 60_000);
    store.add('2', 'tier-move', 'node-a', 60_000);
    store.add('3', 'tier-move', 'node-b', 60_000);
    store.add('4', 'other-kind', null);
    const a = keeper(store, 'node-a');
    a.setSpare(0);
    await a.k.beat(true);
    // All of its own (a restart is not limited by spare room), no other node's, no other kind.
    expect(a.resumed).toEqual(['1', '2']);
    expect(a.takeovers).toEqual([]);
    // Later polls take only free or expired jobs, as many as the runner has room for.
    store.add('5', 'tier-move', null);
    store.add('6', 'tier-move', null);
    await a.k.beat(true);
    expect(a.resumed).toEqual(['1', '2']);
    a.setSpare(1);
    await a.k.beat(true);
    expect(a.resumed).toEqual(['1', '2', '5']);
  });

  it('a released job is free for any node at once; a parked one only for a claim that takes parked jobs', async () => {
    const store = new FakeStore();
    store.add('1', 'tier-move');
    store.add('2', 'tier-move');
    const a = keeper(store, 'node-a');
    const b = keeper(store, 'node-b');
    expect(await a.k.claim('1')).toBe(true);
    expect(await a.k.claim('2')).toBe(true);
    await b.k.beat(true); // first poll
    expect(await b.k.claim('1')).toBe(false);
    await a.k.release('1');
    await a.k.release('2', true);
    expect(a.k.holds('1')).toBe(false);
    await b.k.beat(true);
    expect(b.resumed).toEqual(['1']);
    store.now = 1_000_000;
    b.setSpare(5);
    await b.k.beat(true);
    expect(b.resumed).toEqual(['1']); // parked: never expires
    expect(await b.k.claim('2')).toBe(false);
    expect(await b.k.claim('2', true)).toBe(true);
    expect(b.warnings.join()).toMatch(/from node-a, which had parked it/);
  });

  it('a job that ended is no longer renewed, and not reported lost', async () => {
    const store = new FakeStore();
    store.add('1', 'tier-move');
    const a = keeper(store, 'node-a');
    a.k.adopt('1');
    store.jobs.get('1')!.claimedBy = 'node-a';
    store.jobs.get('1')!.until = 2000;
    a.k.finished('1');
    store.jobs.get('1')!.status = 'done';
    await a.k.beat(false);
    expect(a.warnings).toEqual([]);
    expect(store.jobs.get('1')!.until).toBe(2000);
  });
});

describe('LeaseKeeper when renewals fail or hang', () => {
  it('gives a job up before its lease ends when its renewals fail, so no two nodes run it', async () => {
    const store = new FakeStore();
    const warnings: string[] = [];
    const events = { warn: (m: string) => warnings.push(m), tookOver: async () => undefined };
    const a = new LeaseKeeper(store, 'node-a', 2000, events, () => store.now);
    store.add('9', 'tier-move');
    expect(await a.claim('9')).toBe(true);
    store.renew = async () => {
      throw new Error('Connection terminated unexpectedly');
    };
    store.now = 700;
    await expect(a.beat(false)).rejects.toThrow(/Connection terminated/);
    expect(a.holds('9')).toBe(true); // one renewal missed: still well inside the lease
    store.now = 1400; // two thirds of the lease without a confirmed renewal
    expect(a.holds('9')).toBe(false);
    expect(warnings.join()).toMatch(
      /job 9: this node \(node-a\) could not renew its lease in time/,
    );
    // The database still has A's lease until 2000: another node takes the job only after it.
    const b = new LeaseKeeper(store, 'node-b', 2000, events, () => store.now);
    expect(await b.claim('9')).toBe(false);
    store.now = 2001;
    expect(await b.claim('9')).toBe(true);
  });

  it('abandons a renewal that hangs after one lease, and the next beat runs', async () => {
    const store = new FakeStore();
    const events = { warn: () => undefined, tookOver: async () => undefined };
    const a = new LeaseKeeper(store, 'node-a', 150, events);
    store.add('5', 'tier-move');
    expect(await a.claim('5')).toBe(true);
    const renew = store.renew.bind(store);
    store.renew = () => new Promise<string[]>(() => undefined);
    await expect(a.beat(false)).rejects.toThrow(/did not answer within 150 ms/);
    store.renew = renew;
    await a.beat(false);
    expect(store.jobs.get('5')!.claimedBy).toBe('node-a');
  });
});
