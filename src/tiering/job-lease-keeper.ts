import { type ClaimedJob, type JobLeaseStore } from './job-lease.repository.js';

/** A service that runs jobs of some kinds and can resume one another node (or a crash) left. */
export interface JobRunner {
  readonly kinds: readonly string[];
  /** How many more jobs of these kinds it would start now (0 while busy: others may take them). */
  spare(): number;
  /** Runs a job this node has just claimed, through its kind's resume path. */
  resume(jobId: string): void;
}

export interface LeaseKeeperEvents {
  warn(message: string): void;
  /** A job claimed from a node whose lease had expired (audited by the caller). */
  tookOver(job: ClaimedJob): Promise<void>;
}

/**
 * The jobs this process holds, and their leases: claims (one job, or the free and expired ones of
 * registered kinds), a periodic renewal (the heartbeat, every third of the lease), and the jobs
 * found lost at a renewal (another node took them after this one went quiet too long): their
 * runners see `holds(id)` turn false and stop at their next step. Pure logic over a JobLeaseStore.
 */
export class LeaseKeeper {
  private readonly held = new Set<string>();
  /**
   * When each held lease was last confirmed (claimed, or renewed: the time the renewal started).
   * A lease not confirmed for two thirds of its length is given up here, before the database lets
   * another node take it: renewals that fail or hang (a dead connection, a full pool) must not
   * leave a job running on two nodes.
   */
  private readonly confirmedAt = new Map<string, number>();
  private readonly runners: JobRunner[] = [];
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private polls = 0;

  constructor(
    private readonly store: JobLeaseStore,
    readonly nodeId: string,
    readonly leaseMs: number,
    private readonly events: LeaseKeeperEvents,
    /** The clock (tests: a fake one). */
    private readonly now: () => number = Date.now,
  ) {}

  register(runner: JobRunner): void {
    this.runners.push(runner);
  }

  /** Whether this node still holds the job (false once it was released, finished or taken). */
  holds(jobId: string): boolean {
    if (!this.held.has(jobId)) return false;
    const confirmed = this.confirmedAt.get(jobId) ?? 0;
    if (this.now() - confirmed < (this.leaseMs * 2) / 3) return true;
    this.held.delete(jobId);
    this.confirmedAt.delete(jobId);
    this.events.warn(
      `job ${jobId}: this node (${this.nodeId}) could not renew its lease in time; it stops working on it (the job goes on wherever it is claimed next)`,
    );
    return false;
  }

  /** A job this node created already claimed (JobRepository.create with a claimant). */
  adopt(jobId: string): void {
    this.held.add(jobId);
    this.confirmedAt.set(jobId, this.now());
  }

  /**
   * Claims an existing job: true if this node now holds it (it was free, expired, parked and
   * `evenParked`, or already ours); false if another node holds a live lease on it.
   */
  async claim(jobId: string, evenParked = false): Promise<boolean> {
    if (this.holds(jobId)) return true;
    const asked = this.now();
    const claimed = await this.store.claim(jobId, this.nodeId, this.leaseMs, evenParked);
    if (!claimed) return false;
    this.held.add(jobId);
    this.confirmedAt.set(jobId, asked);
    await this.noteTakeover(claimed);
    return true;
  }

  /** The job ended (done or failed): nothing to renew any more. */
  finished(jobId: string): void {
    this.held.delete(jobId);
    this.confirmedAt.delete(jobId);
  }

  /** Gives the job up (free for any node at once), or parks it (see JobLeaseRepository). */
  async release(jobId: string, park = false): Promise<void> {
    this.confirmedAt.delete(jobId);
    if (!this.held.delete(jobId)) return;
    await this.store.release(jobId, this.nodeId, park);
  }

  /**
   * Renews the leases this node holds, drops the lost ones, then (if `poll`) claims jobs of the
   * registered kinds that are free or whose holder's lease expired, as many as each runner has
   * room for, and hands them to it. The first poll also takes this node's own jobs back (a
   * restart after a crash), all of them.
   */
  async beat(poll: boolean): Promise<void> {
    // One beat at a time: a slow database must not stack them.
    if (this.beating) return this.beating;
    // A beat that hangs (a query on a dead connection) must not stop the next ones: after one
    // lease it is abandoned (its leases then count as unconfirmed, see `holds`).
    let timer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`a lease renewal did not answer within ${this.leaseMs} ms`)),
        this.leaseMs,
      );
      timer.unref?.();
    });
    this.beating = Promise.race([this.beatOnce(poll), abandoned]).finally(() => {
      clearTimeout(timer);
      this.beating = null;
    });
    return this.beating;
  }

  /** Beats every third of the lease from now on; polls too when `poll` (the server, not the CLI). */
  start(poll: boolean): void {
    if (this.timer) return;
    const run = () =>
      void this.beat(poll).catch((e: unknown) =>
        this.events.warn(`job leases: ${e instanceof Error ? e.message : String(e)}`),
      );
    this.timer = setInterval(run, Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating?.catch(() => undefined);
  }

  private async beatOnce(poll: boolean): Promise<void> {
    const ids = [...this.held];
    if (ids.length > 0) {
      const asked = this.now();
      const kept = new Set(await this.store.renew(ids, this.nodeId, this.leaseMs));
      for (const id of ids) {
        if (kept.has(id) && this.held.has(id)) this.confirmedAt.set(id, asked);
        // Released or finished meanwhile: not lost, just gone.
        if (!kept.has(id) && this.held.delete(id)) {
          this.confirmedAt.delete(id);
          this.events.warn(
            `job ${id}: this node (${this.nodeId}) lost its lease (another node took the job over); it stops working on it`,
          );
        }
      }
    }
    if (!poll) return;
    const first = this.polls++ === 0;
    for (const runner of this.runners) {
      const limit = first ? 1000 : runner.spare();
      if (limit <= 0) continue;
      const asked = this.now();
      const claimed = await this.store.claimAvailable(
        runner.kinds,
        this.nodeId,
        this.leaseMs,
        limit,
        { include: first, except: [...this.held] },
      );
      for (const job of claimed) {
        this.held.add(job.id);
        this.confirmedAt.set(job.id, asked);
        await this.noteTakeover(job);
        runner.resume(job.id);
      }
    }
  }

  private async noteTakeover(job: ClaimedJob): Promise<void> {
    if (job.previousHolder === null) return;
    const until = job.previousLeaseUntil;
    const how =
      !until || /^infinity$/i.test(until) ? 'which had parked it' : `whose lease ended ${until}`;
    this.events.warn(
      `job ${job.id} (${job.kind}): taken over by ${this.nodeId} from ${job.previousHolder}, ${how}`,
    );
    await this.events
      .tookOver(job)
      .catch((e: unknown) =>
        this.events.warn(`job ${job.id}: the take-over was not audited: ${String(e)}`),
      );
  }
}
