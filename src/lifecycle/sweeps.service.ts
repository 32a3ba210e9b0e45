import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditService } from '../audit/index.js';
import { inWindow, STRATA_CONFIG, type StrataConfig, type SweepName } from '../config/index.js';
import { Database } from '../database/index.js';
import { type Job, JobLeases, JobRepository, TierMover } from '../tiering/index.js';
import { Clock } from './clock.js';
import { type LifecycleDecision } from './decision.js';
import { DeletionRepository } from './deletion.repository.js';
import { evaluate } from './evaluator.js';
import { FactsRepository, type StudyRecord } from './facts.repository.js';
import { holdsCovering, HoldRepository } from './hold.repository.js';
import { PolicyStore } from './policy-store.service.js';
import { Purger } from './purger.service.js';

export const LIFECYCLE_OPTIONS = Symbol('LIFECYCLE_OPTIONS');

export interface LifecycleOptions {
  /**
   * The server runs the schedule and recalls (interrupted sweeps are resumed through JobLeases,
   * per TieringOptions.resumeJobs); a CLI command does neither.
   */
  resumeJobs: boolean;
  schedule: boolean;
  http: boolean;
}

/** What a sweep did, in figures (the job's `result`), and its cursor for a resume. */
export interface SweepResult {
  /** Last patient (catalog id) whose studies are done. */
  afterPatient: string;
  evaluated: number;
  expired: number;
  purged: number;
  moves: number;
  blocked: number;
  /** Holds that blocked an expiry or a purge. */
  blockingHolds: string[];
  failed: number;
  /** Why the sweep stopped before the end, when it did (paused, outside its window). */
  stoppedBecause?: string;
}

const jobKind = (name: SweepName) => `lifecycle.${name}`;
const SWEEP_KINDS = (['retention', 'tiering', 'purge'] as const).map(jobKind);

/** Why a sweep stopped before its end; what becomes of its lease follows from it. */
type StopReason =
  'the node is stopping' | 'paused' | 'outside its window' | 'taken over by another node';

/**
 * The lifecycle sweeps, as jobs: each goes through the patients in catalog order, a batch at a
 * time (the facts of all their studies in one statement, so that 'last-study' rules see the whole
 * patient), evaluates every study with the pure evaluator, and acts: the retention sweep expires,
 * the purge sweep purges, the tiering sweep asks the tier mover for moves. The cursor is saved
 * after each batch, so a sweep killed half-way resumes where it stopped; every action is
 * idempotent (an expired study is not expired again, a study with a pending move gets no second
 * one). Actions are rate-limited, and a paused schedule or a closing window stops a sweep at the
 * next batch. A sweep runs on the node holding its job's lease (JobLeases); one whose node died is
 * resumed from its cursor by another node once the lease has expired. One stopped outside its
 * window is parked: the next tick in the window, on any node, goes on with it.
 */
@Injectable()
export class Sweeps implements OnApplicationShutdown {
  private readonly logger = new Logger('Lifecycle');
  private readonly jobs: JobRepository;
  private readonly facts = new FactsRepository();
  private readonly holds = new HoldRepository();
  private readonly deletions = new DeletionRepository();
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly policies: PolicyStore,
    private readonly clock: Clock,
    private readonly purger: Purger,
    private readonly mover: TierMover,
    private readonly leases: JobLeases,
  ) {
    this.jobs = new JobRepository(db);
    // Interrupted sweeps (this node's after a restart, or a dead node's) come back through here.
    leases.register({
      kinds: SWEEP_KINDS,
      spare: () => SWEEP_KINDS.length - this.running.size,
      resume: (id) => this.resumeById(id),
    });
  }

  private resumeById(id: string): void {
    if (this.running.has(id)) return;
    const pending = (async () => {
      const job = await this.jobs.get(id);
      const name = job?.kind.replace(/^lifecycle\./, '') as SweepName | undefined;
      this.running.delete(id); // launch() tracks the run from here (no await in between)
      if (!job || !name || (job.status !== 'queued' && job.status !== 'running')) {
        this.leases.finished(id);
        return;
      }
      this.logger.warn(`resuming the interrupted ${name} sweep (job ${job.id})`);
      await this.launch(name, job);
    })().catch((error: unknown) => {
      this.running.delete(id);
      this.logger.error(`sweep job ${id} could not be resumed: ${String(error)}`);
    });
    // Seen by idle() while the job is being read.
    this.running.set(id, pending);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.running.values()].map((p) => p.catch(() => undefined)));
  }

  /**
   * Starts a sweep (or goes on with the unfinished one of that kind, e.g. one a window or a pause
   * stopped) and returns its job at once; `finished` settles when it ends.
   */
  async start(name: SweepName, actor: string): Promise<{ job: Job; finished: Promise<void> }> {
    const [unfinished] = await this.jobs.unfinished(jobKind(name), true);
    if (unfinished) {
      if (unfinished.status === 'paused') await this.jobs.setPaused(unfinished.id, false);
      let finished = this.running.get(unfinished.id);
      // A parked sweep (stopped outside its window) is taken by whichever node's tick comes;
      // one another live node is running goes on there.
      if (!finished && (await this.leases.claim(unfinished.id, true))) {
        finished = this.launch(name, (await this.jobs.get(unfinished.id))!);
      }
      return {
        job: (await this.jobs.get(unfinished.id))!,
        finished: finished ?? Promise.resolve(),
      };
    }
    const job = await this.jobs.create(jobKind(name), { sweep: name }, actor, this.leases.claimant);
    this.leases.adopt(job.id);
    return { job, finished: this.launch(name, job) };
  }

  /** Pauses the unfinished sweep of a kind (it stops at its next batch). */
  async pause(name: SweepName): Promise<Job | null> {
    const [job] = await this.jobs.unfinished(jobKind(name));
    if (!job) return null;
    await this.jobs.setPaused(job.id, true);
    return this.jobs.get(job.id);
  }

  /** Resolves once every sweep started in this process has ended (tests, the CLI). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  private launch(name: SweepName, job: Job): Promise<void> {
    const run = this.runAlone(name, job)
      .catch(async (error: unknown) => {
        if (this.stopping) {
          await this.leases.release(job.id).catch(() => undefined);
          return;
        }
        if (!this.leases.holds(job.id)) return; // another node has it now
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(`${name} sweep (job ${job.id}) failed: ${message}`);
        await this.jobs.finish(job.id, message).catch(() => undefined);
      })
      .finally(() => {
        this.leases.finished(job.id);
        this.running.delete(job.id);
      });
    this.running.set(job.id, run);
    return run;
  }

  /**
   * Runs the job unless another node is running a sweep of this kind (a session-level advisory
   * lock, released if that node dies, so a crashed sweep can be resumed by any node).
   */
  private async runAlone(name: SweepName, job: Job): Promise<void> {
    await this.db.withConnection(async (conn) => {
      const [row] = (await conn.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
        `sweep:${name}`,
      ])) as { ok: boolean }[];
      if (!row?.ok) {
        // Another job of this kind is running there: this one is free again for the next poll.
        this.logger.log(
          `${name} sweep (job ${job.id}) waits: a ${name} sweep is running on another node`,
        );
        await this.leases.release(job.id);
        return;
      }
      try {
        await this.run(name, job);
      } finally {
        await conn
          .query('SELECT pg_advisory_unlock(hashtext($1))', [`sweep:${name}`])
          .catch(() => undefined);
      }
    });
  }

  private async run(name: SweepName, job: Job): Promise<void> {
    const saved = job.result as Partial<SweepResult> | null;
    const result: SweepResult = {
      afterPatient: '0',
      evaluated: 0,
      expired: 0,
      purged: 0,
      moves: 0,
      blocked: 0,
      blockingHolds: [],
      failed: 0,
      ...saved,
    };
    delete result.stoppedBecause;
    await this.jobs.start(job.id, await this.facts.countPatients(this.db));
    let done = job.done;
    const holdsSeen = new Set(result.blockingHolds);
    const limiter = new RateLimiter(this.config.lifecycle.maxActionsPerSecond);
    if (name === 'purge') await this.resumePurges(result, limiter);
    for (;;) {
      const stop = await this.shouldStop(name, job.id);
      if (stop === 'taken over by another node') {
        // Its cursor is the new holder's now: nothing more is written from here.
        this.logger.warn(`${name} sweep (job ${job.id}) stopped here: ${stop}`);
        return;
      }
      if (stop) {
        result.stoppedBecause = stop;
        await this.jobs.checkpoint(job.id, done, { ...result });
        this.logger.log(`${name} sweep (job ${job.id}) stopped: ${stop}`);
        await this.leases.release(job.id, stop === 'outside its window');
        return;
      }
      const batch = await this.facts.patientsAfter(
        this.db,
        result.afterPatient,
        this.config.lifecycle.batchSize,
      );
      if (batch.lastPatient === null) break;
      const now = this.clock.now();
      const studies = batch.studies;
      const holds = await this.holds.activeCovering(
        this.db,
        studies.map((s) => s.facts.studyInstanceUid),
        [...new Set(studies.map((s) => s.facts.patientId).filter((p): p is string => !!p))],
      );
      const byPatient = new Map<string, StudyRecord[]>();
      for (const s of studies) {
        const list = byPatient.get(s.facts.patientKey) ?? [];
        list.push(s);
        byPatient.set(s.facts.patientKey, list);
      }
      const pendingMoves = name === 'tiering' ? await this.mover.pendingStudyMoves() : null;
      for (const s of studies) {
        const decision = evaluate(
          {
            study: s.facts,
            patientStudies: byPatient.get(s.facts.patientKey)!.map((p) => p.facts),
            holds: holdsCovering(holds, s.facts.studyInstanceUid, s.facts.patientId),
            state: s.state,
          },
          this.policies.current,
          now,
        );
        result.evaluated++;
        if (decision.action.kind === 'blocked' && blocks(name, decision)) {
          result.blocked++;
          for (const h of decision.action.holds) holdsSeen.add(h);
          continue;
        }
        try {
          await this.act(name, s, decision, now, limiter, result, pendingMoves);
        } catch (error) {
          result.failed++;
          this.logger.error(
            `${name} sweep: study #${result.evaluated} failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
      result.afterPatient = batch.lastPatient;
      result.blockingHolds = [...holdsSeen];
      done += new Set(studies.map((s) => s.facts.patientKey)).size;
      await this.jobs.checkpoint(job.id, done, { ...result });
      this.failpoint('batch');
    }
    await this.audit.recordAlone({
      actor: job.actor,
      action: `lifecycle.${name}-sweep`,
      outcome: result.failed > 0 ? 'warning' : 'success',
      detail: { job: job.id, policyVersion: this.policies.current.version, ...result },
    });
    await this.jobs.finish(job.id, null, { ...result });
  }

  private async act(
    name: SweepName,
    s: StudyRecord,
    decision: LifecycleDecision,
    now: Date,
    limiter: RateLimiter,
    result: SweepResult,
    pendingMoves: Set<string> | null,
  ): Promise<void> {
    const uid = s.facts.studyInstanceUid;
    if (name === 'retention' && decision.action.kind === 'expire') {
      await limiter.take();
      const rule = decision.action.rule;
      const expired = await this.db.transaction(async (tx) => {
        // Holds again, in the transaction that expires: one placed since the batch was read wins.
        const holds = await this.holds.activeFor(tx, uid, s.facts.patientId);
        if (holds.length > 0) return false;
        const changed = await this.deletions.expire(tx, uid, now, 'retention', rule);
        if (!changed) return false;
        await this.audit.record(tx, {
          actor: 'lifecycle',
          action: 'study.expired',
          outcome: 'success',
          patientId: s.facts.patientId,
          studyInstanceUid: uid,
          detail: {
            by: 'retention',
            rule,
            policyVersion: this.policies.current.version,
            retentionEnded: decision.retention.until,
            holdsChecked: [],
            purgeOn: addDays(now, this.policies.current.settings.purgeGraceDays),
          },
        });
        return true;
      });
      if (expired) result.expired++;
    } else if (name === 'purge' && decision.action.kind === 'purge') {
      await limiter.take();
      const outcome = await this.purger.purge(uid, 'lifecycle');
      if (outcome.kind === 'purged') result.purged++;
      if (outcome.kind === 'blocked') result.blocked++;
    } else if (name === 'tiering' && decision.tiering.due.length > 0 && !pendingMoves!.has(uid)) {
      const move = decision.tiering.due[0]!;
      await limiter.take();
      await this.mover.request({
        studyInstanceUid: uid,
        seriesInstanceUid: null,
        tier: move.to,
        actor: 'lifecycle',
        actorHost: null,
        policy: {
          version: this.policies.current.version,
          rule: move.rule,
          reason: move.computation,
        },
      });
      pendingMoves!.add(uid);
      result.moves++;
    }
  }

  /** Purges a crash interrupted go on first, whatever the policies now say (they began). */
  private async resumePurges(result: SweepResult, limiter: RateLimiter): Promise<void> {
    for (const uid of await this.deletions.unfinishedPurges(this.db)) {
      await limiter.take();
      const outcome = await this.purger.purge(uid, 'lifecycle');
      if (outcome.kind === 'purged') result.purged++;
    }
  }

  private async shouldStop(name: SweepName, jobId: string): Promise<StopReason | null> {
    if (this.stopping) return 'the node is stopping';
    if (!this.leases.holds(jobId)) return 'taken over by another node';
    const job = await this.jobs.get(jobId);
    if (job?.status === 'paused') return 'paused';
    if (!inWindow(this.config.lifecycle.windows[name], this.clock.now())) {
      return 'outside its window';
    }
    return null;
  }

  private failpoint(step: string): void {
    if (this.config.testFailpoint === `sweep:${step}`) process.kill(process.pid, 'SIGKILL');
  }
}

/** Whether a blocked decision concerns this sweep (a blocked purge is not the retention sweep's). */
function blocks(name: SweepName, d: LifecycleDecision): boolean {
  if (d.action.kind !== 'blocked') return false;
  return (
    (name === 'retention' && d.action.by === 'expire') ||
    (name === 'purge' && d.action.by === 'purge')
  );
}

function addDays(d: Date, days: number): string {
  return new Date(d.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

/** At most `perSecond` actions a second (0 = no limit), spaced evenly. */
class RateLimiter {
  private next = 0;
  constructor(private readonly perSecond: number) {}

  async take(): Promise<void> {
    if (this.perSecond <= 0) return;
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.perSecond;
    if (at > now) await sleep(at - now);
  }
}
