import { Inject, Injectable, Logger } from '@nestjs/common';
import cron, { type ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type z } from 'zod';
import { type SourceConfig, STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { Database } from '../../../database/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { IngestionService } from '../../ingestion.service.js';
import {
  type AdapterHealth,
  type AdapterStatus,
  type IngestionAdapter,
  sourcesOf,
} from '../adapter.js';
import { AdapterActivity } from '../adapter-activity.js';
import { optionProblems } from '../source-options.js';
import { type PullResult } from './pull-result.js';
import { PullTickRepository } from './pull-tick.repository.js';

/**
 * What the pull adapters (orthanc-pull, dicomweb-pull...) share: their sources' runs on the
 * sources' cron schedules, each tick claimed in PostgreSQL so that it runs on one node however
 * many are up, and one run of a source at a time across every node (a PostgreSQL advisory lock: a
 * run a node finds taken is skipped), runs on request (`strata pull`, the API), counters, and the
 * last run of each source for status and health. A subclass says how one run pulls.
 */
@Injectable()
export abstract class PullAdapter implements IngestionAdapter {
  abstract readonly id: string;
  readonly kind = 'pull' as const;
  abstract readonly capabilities: readonly string[];
  protected abstract readonly optionsSchema: z.ZodType;
  protected readonly activity = new AdapterActivity();
  private readonly logger = new Logger('Pull');
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Map<string, Promise<PullResult | null>>();
  private readonly last = new Map<string, PullResult>();
  private readonly stopping = new AbortController();
  private readonly ticks = new PullTickRepository();
  /** This process, as tick claims record it. */
  private readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  // Subclasses inherit this constructor (and its injection): they declare none.
  constructor(
    @Inject(STRATA_CONFIG) protected readonly config: StrataConfig,
    protected readonly db: Database,
    protected readonly ingestion: IngestionService,
  ) {}

  /** One run of a source: from its checkpoint until it is drained (or stopped, or failed). */
  protected abstract pullOnce(
    source: SourceConfig,
    observe: (source: string, outcome: IngestResult) => void,
    signal: AbortSignal,
    onProgress?: (r: PullResult) => void,
  ): Promise<PullResult>;

  checkSource(source: SourceConfig): string[] {
    return optionProblems(this.optionsSchema, source.options);
  }

  async start(): Promise<void> {
    for (const s of sourcesOf(this.config.sources, this.id)) {
      if (!s.schedule) continue;
      this.tasks.push(
        cron.schedule(
          s.schedule,
          (context) => void this.scheduledRun(s.name, context.date).catch(() => undefined),
          { name: `${this.id}:${s.name}` },
        ),
      );
    }
    this.activity.started();
  }

  async stop(): Promise<void> {
    this.activity.stopped();
    this.stopping.abort();
    for (const t of this.tasks) await t.stop();
    await Promise.allSettled([...this.running.values()]);
  }

  async health(): Promise<AdapterHealth> {
    // A run stopped on purpose ('stopped', 'stopped: outside the schedule window') is healthy.
    const failed = [...this.last].filter(([, r]) => r.error && !r.error.startsWith('stopped'));
    if (failed.length > 0) {
      return { ok: false, detail: failed.map(([n, r]) => `${n}: ${r.error}`).join('; ') };
    }
    return { ok: true };
  }

  status(): AdapterStatus {
    const names = sourcesOf(this.config.sources, this.id).map((s) => s.name);
    return this.activity.status(names, (name) => {
      const r = this.last.get(name);
      return {
        detail: this.running.has(name)
          ? 'pulling'
          : r
            ? `last run: ${r.fetched} fetched, ${r.stored} stored${r.error ? `, stopped: ${r.error}` : ''}`
            : 'not run since start',
        checkpoint: r ? JSON.stringify(r.cursor) : null,
      };
    });
  }

  /**
   * One tick of a source's schedule (`at`, the time cron matched): runs it if this node's claim of
   * the tick wins; false when another node has it.
   */
  async scheduledRun(name: string, at: Date): Promise<boolean> {
    const tick = new Date(Math.floor(at.getTime() / 1000) * 1000);
    if (!(await this.ticks.claim(this.db, name, tick, this.holder))) return false;
    await this.run(name);
    return true;
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  /**
   * Runs a source now; null when it is already being pulled (here or on another node). The
   * result says how far it got; an error in it means the next run goes on from the checkpoint.
   */
  async run(name: string, onProgress?: (r: PullResult) => void): Promise<PullResult | null> {
    const source = this.config.sources[name];
    if (!source || source.adapter !== this.id) {
      throw new Error(`${name} is not a configured ${this.id} source`);
    }
    if (this.running.has(name)) return null;
    const work = this.db.withConnection(async (conn) => {
      const [row] = (await conn.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
        `pull:${name}`,
      ])) as { ok: boolean }[];
      if (!row?.ok) return null;
      try {
        const r = await this.pullOnce(
          source,
          (src, outcome) => this.activity.count(src, outcome),
          this.stopping.signal,
          onProgress,
        );
        this.last.set(name, r);
        if (r.error && !r.error.startsWith('stopped'))
          this.logger.warn(`${this.id} ${name}: ${r.error}`);
        return r;
      } finally {
        await conn
          .query('SELECT pg_advisory_unlock(hashtext($1))', [`pull:${name}`])
          .catch(() => undefined);
      }
    });
    this.running.set(name, work);
    try {
      return await work;
    } finally {
      this.running.delete(name);
    }
  }
}
