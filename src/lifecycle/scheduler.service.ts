import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import cron, { type ScheduledTask } from 'node-cron';
import {
  inWindow,
  STRATA_CONFIG,
  SWEEP_NAMES,
  type StrataConfig,
  type SweepName,
} from '../config/index.js';
import { AuditService } from '../audit/index.js';
import { Database } from '../database/index.js';
import { JobLeases } from '../tiering/index.js';
import { Clock } from './clock.js';
import { LeaseRepository } from './lease.repository.js';
import { LIFECYCLE_OPTIONS, type LifecycleOptions, Sweeps } from './sweeps.service.js';

export type TickOutcome = 'ran' | 'claimed-elsewhere' | 'paused' | 'outside-window';

/**
 * Runs the sweeps on their cron schedules (config lifecycle.schedules). Every node schedules every
 * sweep; at each tick the nodes race to claim it in PostgreSQL (schedule_leases) and only the
 * winner runs it, so a tick runs once however many nodes there are. A paused schedule claims
 * nothing; a tick outside the sweep's window is skipped.
 */
@Injectable()
export class Scheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Lifecycle');
  private readonly leases = new LeaseRepository();
  private readonly tasks: ScheduledTask[] = [];

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    @Inject(LIFECYCLE_OPTIONS) private readonly options: LifecycleOptions,
    private readonly db: Database,
    private readonly sweeps: Sweeps,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly jobLeases: JobLeases,
  ) {}

  /** This node, as tick claims (and job leases) record it. */
  get nodeId(): string {
    return this.jobLeases.nodeId;
  }

  onApplicationBootstrap(): void {
    if (!this.options.schedule) return;
    for (const name of SWEEP_NAMES) {
      const schedule = this.config.lifecycle.schedules[name];
      if (!schedule) continue;
      this.tasks.push(
        cron.schedule(
          schedule,
          () => {
            this.tick(name).catch((e: unknown) =>
              this.logger.error(`${name} tick failed: ${String(e)}`),
            );
          },
          { name: `lifecycle.${name}` },
        ),
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    for (const task of this.tasks) await task.stop();
  }

  /**
   * One tick of a sweep's schedule, at `at` (the clock's now, to the minute): claims it and, if
   * this node won, starts the sweep (or goes on with the one a window or a pause stopped).
   */
  async tick(name: SweepName, at: Date = this.clock.now()): Promise<TickOutcome> {
    const tick = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
    if (!inWindow(this.config.lifecycle.windows[name], at)) return 'outside-window';
    if (await this.leases.isPaused(this.db, name)) return 'paused';
    const mine = await this.leases.claim(this.db, name, tick, this.nodeId);
    if (!mine) return 'claimed-elsewhere';
    await this.sweeps.start(name, 'scheduler');
    return 'ran';
  }

  /** Pauses a schedule (no tick claims it) and the sweep of that kind that is running. */
  async pause(
    name: SweepName,
    by: { actor: string; actorHost: string | null; role?: string | null },
  ): Promise<void> {
    await this.leases.setPaused(this.db, name, true);
    const job = await this.sweeps.pause(name);
    await this.audit.recordAlone({
      ...by,
      action: 'schedule.paused',
      outcome: 'success',
      detail: { sweep: name, job: job?.id ?? null },
    });
  }

  async resume(
    name: SweepName,
    by: { actor: string; actorHost: string | null; role?: string | null },
  ): Promise<void> {
    await this.leases.setPaused(this.db, name, false);
    await this.audit.recordAlone({
      ...by,
      action: 'schedule.resumed',
      outcome: 'success',
      detail: { sweep: name },
    });
  }

  async status(): Promise<
    {
      name: SweepName;
      schedule: string | null;
      window: string | null;
      paused: boolean;
      lastTick: string | null;
      lastTickBy: string | null;
    }[]
  > {
    const leases = new Map((await this.leases.list(this.db)).map((l) => [l.name, l]));
    return SWEEP_NAMES.map((name) => {
      const lease = leases.get(name);
      const w = this.config.lifecycle.windows[name];
      return {
        name,
        schedule: this.config.lifecycle.schedules[name],
        window: w ? `${hhmm(w.from)}-${hhmm(w.to)}` : null,
        paused: lease?.paused ?? false,
        lastTick: lease?.lastTick ?? null,
        lastTickBy: lease?.holder || null,
      };
    });
  }
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
