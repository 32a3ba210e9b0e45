import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { type JobRunner, LeaseKeeper } from './job-lease-keeper.js';
import { JobLeaseRepository } from './job-lease.repository.js';
import { readNodeId } from './node-id.repository.js';
import { TIERING_OPTIONS, type TieringOptions } from './tiering-options.js';

/**
 * Job leases for this process (config jobs.leaseSeconds): the job services (tier moves, sweeps,
 * key re-wraps) create their jobs claimed, check `holds()` at each step, and register as runners;
 * the server then polls for jobs whose node died (lease expired) or that nobody holds, and hands
 * them to their runner's resume path. A CLI command holds and renews the jobs it runs but takes
 * no others. Take-overs are audited ('job.taken-over') and logged at warn.
 */
@Injectable()
export class JobLeases implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly keeper: LeaseKeeper;

  constructor(
    @Inject(STRATA_CONFIG) config: StrataConfig,
    @Inject(TIERING_OPTIONS) private readonly options: TieringOptions,
    db: Database,
    audit: AuditService,
  ) {
    const node = readNodeId(config.dataDir);
    // A CLI command is another process on the same data dir: not the server's id (the server
    // would otherwise take back the CLI's jobs as its own at its next start), and not one shared
    // by every command either (two commands at once would both think they hold the same job).
    // A command run again after a crash takes its job back once the old lease has expired.
    const nodeId = options.resumeJobs
      ? node
      : `${node}:cli:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.keeper = new LeaseKeeper(new JobLeaseRepository(db), nodeId, config.jobs.leaseMs, {
      warn: (m) => this.logger.warn(m),
      tookOver: (job) =>
        audit.recordAlone({
          actor: 'system',
          action: 'job.taken-over',
          outcome: 'success',
          detail: {
            job: job.id,
            kind: job.kind,
            node: nodeId,
            from: job.previousHolder,
            leaseEnded: job.previousLeaseUntil,
          },
        }),
    });
  }

  get nodeId(): string {
    return this.keeper.nodeId;
  }

  /** Who claims a job being created: pass to JobRepository.create, then `adopt` its id. */
  get claimant(): { node: string; leaseMs: number } {
    return { node: this.keeper.nodeId, leaseMs: this.keeper.leaseMs };
  }

  register(runner: JobRunner): void {
    this.keeper.register(runner);
  }

  adopt(jobId: string): void {
    this.keeper.adopt(jobId);
  }

  holds(jobId: string): boolean {
    return this.keeper.holds(jobId);
  }

  claim(jobId: string, evenParked = false): Promise<boolean> {
    return this.keeper.claim(jobId, evenParked);
  }

  finished(jobId: string): void {
    this.keeper.finished(jobId);
  }

  release(jobId: string, park = false): Promise<void> {
    return this.keeper.release(jobId, park);
  }

  /** Renews now and (on the server) claims what is free: tests, instead of waiting for the timer. */
  beat(): Promise<void> {
    return this.keeper.beat(this.options.resumeJobs);
  }

  /**
   * Runners registered in their constructors, so the first poll (here, at bootstrap) already
   * knows every kind; it takes back this node's own interrupted jobs, then the free ones.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.options.resumeJobs) await this.keeper.beat(true);
    this.keeper.start(this.options.resumeJobs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.keeper.stop();
  }
}
