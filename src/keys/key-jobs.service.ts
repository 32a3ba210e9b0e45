import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { type KeyChangeActor, KeyRingError, KeyService } from '../storage/index.js';
import { type Job, JobLeases, JobRepository } from '../tiering/index.js';

export const REWRAP_JOB = 'keys.rewrap';
export const KEYS_OPTIONS = Symbol('KEYS_OPTIONS');

export interface KeysOptions {
  /** The server resumes an interrupted re-wrap at start; a CLI command runs only its own. */
  resumeJobs: boolean;
  http: boolean;
}

export interface RewrapResult {
  /** Last Study Instance UID of the scan done so far (UID order): where a resume goes on. */
  cursor: string;
  studies: number;
  /** PKESK rows added. */
  added: number;
  /** Studies whose key no held archive key opens (reported; the job then ends failed). */
  unreadable: number;
}

/** Studies per transaction, and how many are unwrapped and re-wrapped at once (crypto overlaps). */
const BATCH = 500;
const CONCURRENCY = 16;

/**
 * Key-ring changes that touch every study: a rotation (a new archive key) and a new escrow
 * recipient both end in a re-wrap job, which adds, for each study, a PKESK for every active
 * recipient it lacks. Only catalog rows change, never a stored object; reads go on throughout
 * (the session keys do not change, and the old rows stay until the old key is retired). The job
 * scans studies in UID order, records its cursor after each batch, and resumes from it: on this
 * node after a restart, or on another one once the lease of a node that died has expired.
 */
@Injectable()
export class KeyJobs implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Keys');
  private readonly jobs: JobRepository;
  private running: Promise<void> = Promise.resolve();
  /** Jobs queued or running here. */
  private active = 0;
  private stopping = false;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    @Inject(KEYS_OPTIONS) private readonly options: KeysOptions,
    db: Database,
    private readonly keys: KeyService,
    private readonly audit: AuditService,
    private readonly leases: JobLeases,
  ) {
    this.jobs = new JobRepository(db);
    // Interrupted re-wraps (this node's after a restart, or a dead node's) come back through here.
    leases.register({
      kinds: [REWRAP_JOB],
      spare: () => (this.active > 0 ? 0 : 1),
      resume: (id) => {
        this.logger.warn(`resuming the interrupted key re-wrap job ${id}`);
        this.active++;
        this.running = this.running
          .then(async () => {
            const job = await this.jobs.get(id);
            if (job && (job.status === 'queued' || job.status === 'running')) await this.run(job);
            else this.leases.finished(id);
          })
          .catch(() => undefined)
          .finally(() => this.active--);
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.resumeJobs) return;
    // Interrupted jobs were claimed and resumed by JobLeases before this hook.
    const unfinished = await this.jobs.unfinished(REWRAP_JOB);
    // Escrow keys newly listed in the config file: existing studies get wrapped for them too.
    if (unfinished.length === 0 && this.keys.ring.registeredAtOpen.length > 0) {
      await this.start('registered', this.keys.ring.registeredAtOpen.join(','), {
        actor: 'system',
        actorHost: null,
      });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.running.catch(() => undefined);
  }

  /**
   * `strata keys rotate`: a new archive key and a re-wrap job for it. If a re-wrap job is
   * unfinished (a rotation interrupted by a crash), that job is resumed instead: no second key.
   */
  async rotate(
    by: KeyChangeActor,
  ): Promise<{ job: Job; fingerprint: string | null; resumed: boolean }> {
    const unfinished = await this.jobs.unfinished(REWRAP_JOB);
    if (unfinished.length > 0) {
      for (const job of unfinished) await this.takeOrWatch(job);
      return { job: unfinished[unfinished.length - 1]!, fingerprint: null, resumed: true };
    }
    const fingerprint = await this.keys.ring.generateArchiveKey(by);
    const job = await this.start('rotate', fingerprint, by);
    return { job, fingerprint, resumed: false };
  }

  /** Resumes an unfinished re-wrap, or runs a fresh pass that covers every study. */
  async resume(by: KeyChangeActor): Promise<{ job: Job; resumed: boolean }> {
    const unfinished = await this.jobs.unfinished(REWRAP_JOB);
    if (unfinished.length > 0) {
      for (const job of unfinished) await this.takeOrWatch(job);
      return { job: unfinished[unfinished.length - 1]!, resumed: true };
    }
    return { job: await this.start('resume', null, by), resumed: false };
  }

  /** `strata keys add-recipient`: an escrow key, and a re-wrap job so every study opens with it. */
  async addRecipient(
    armored: string,
    label: string | null,
    by: KeyChangeActor,
  ): Promise<{ job: Job; fingerprint: string; added: boolean; hadPrivate: boolean }> {
    const r = await this.keys.ring.addEscrow(armored, label, by);
    const job = await this.start('add-recipient', r.fingerprint, by);
    return { job, ...r };
  }

  /** `strata keys retire`: KEYID is a fingerprint or its last 16 hex digits (the key ID). */
  async retire(
    keyId: string,
    by: KeyChangeActor,
  ): Promise<{ fingerprint: string; studyKeysRemoved: number }> {
    const id = keyId.toLowerCase().replace(/^0x/, '').replace(/\s+/g, '');
    if (!/^[0-9a-f]{16,64}$/.test(id)) {
      throw new KeyRingError('KEYID must be a key fingerprint or key ID (16 or more hex digits)');
    }
    const { recipients } = await this.keys.ring.list();
    const matches = recipients.filter((r) => r.fingerprint.endsWith(id));
    if (matches.length === 0) throw new KeyRingError(`no key ${keyId} in the key ring`);
    if (matches.length > 1)
      throw new KeyRingError(`${keyId} matches more than one key: give the fingerprint`);
    const fingerprint = matches[0]!.fingerprint;
    return { fingerprint, ...(await this.keys.ring.retire(fingerprint, by)) };
  }

  getJob(id: string): Promise<Job | null> {
    return this.jobs.get(id);
  }

  async latestJob(): Promise<Job | null> {
    return this.jobs.latest(REWRAP_JOB);
  }

  /** Resolves when the jobs started so far have ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async start(
    reason: string,
    fingerprint: string | null,
    by: KeyChangeActor,
  ): Promise<Job> {
    const job = await this.jobs.create(
      REWRAP_JOB,
      { reason, fingerprint, actorHost: by.actorHost },
      by.actor,
      this.leases.claimant,
    );
    this.leases.adopt(job.id);
    this.enqueue(job);
    return job;
  }

  /**
   * An unfinished job asked for again: run here if this node can claim it (free, ours, or its
   * node's lease expired); otherwise a live node is running it, and idle() waits for its end.
   */
  private async takeOrWatch(job: Job): Promise<void> {
    if (this.active > 0 && this.leases.holds(job.id)) return; // already queued here
    if (await this.leases.claim(job.id)) {
      this.enqueue(job);
      return;
    }
    this.logger.log(`key re-wrap job ${job.id} is running on another node`);
    this.running = this.running
      .then(async () => {
        for (;;) {
          const now = await this.jobs.get(job.id);
          if (this.stopping || !now || (now.status !== 'queued' && now.status !== 'running'))
            return;
          await new Promise((r) => setTimeout(r, 500));
        }
      })
      .catch(() => undefined);
  }

  private enqueue(job: Job): void {
    this.active++;
    this.running = this.running
      .then(() => this.run(job))
      .catch(() => undefined)
      .finally(() => this.active--);
  }

  /** Whether the job must stop at this step: the node is stopping, or lost the job's lease. */
  private mustStop(jobId: string): boolean {
    return this.stopping || !this.leases.holds(jobId);
  }

  private async run(job: Job): Promise<void> {
    if (!this.leases.holds(job.id)) return; // taken over while it waited in the queue
    try {
      await this.runHeld(job);
    } finally {
      if (this.stopping) await this.leases.release(job.id).catch(() => undefined);
      this.leases.finished(job.id);
    }
  }

  private async runHeld(job: Job): Promise<void> {
    const saved = (job.result ?? {}) as Partial<RewrapResult>;
    const result: RewrapResult = {
      cursor: saved.cursor ?? '',
      studies: saved.studies ?? 0,
      added: saved.added ?? 0,
      unreadable: saved.unreadable ?? 0,
    };
    try {
      await this.jobs.start(job.id, await this.keys.countStudies());
      while (!this.mustStop(job.id)) {
        const step = await this.keys.rewrapBatch(result.cursor, BATCH, CONCURRENCY);
        if (step.studies === 0) break;
        result.cursor = step.last!;
        result.studies += step.studies;
        result.added += step.added;
        result.unreadable += step.unreadable;
        await this.jobs.checkpoint(job.id, result.studies, { ...result });
        this.failpoint('batch');
      }
      // Studies whose key was made during the scan by a node that had not yet seen the new
      // recipient: sweep until none lacks one (or only unreadable ones are left).
      while (!this.mustStop(job.id)) {
        const step = await this.keys.rewrapBatch('', BATCH, CONCURRENCY, true);
        result.added += step.added;
        if (step.added === 0) break;
      }
      if (this.mustStop(job.id)) return; // resumed at the next start, or by the node that took it
      const error =
        result.unreadable > 0
          ? `${result.unreadable} studies are wrapped for no archive key this node holds: they were not re-wrapped`
          : null;
      await this.audit.recordAlone({
        actor: job.actor,
        actorHost: (job.params.actorHost as string | null) ?? null,
        action: 'key.rewrapped',
        outcome: error ? 'failure' : 'success',
        detail: {
          job: job.id,
          reason: job.params.reason,
          fingerprint: job.params.fingerprint,
          ...result,
        },
      });
      // Audited first: once the job shows as ended, its audit row is there.
      await this.jobs.finish(job.id, error, { ...result });
      if (error) this.logger.error(`key re-wrap job ${job.id}: ${error}`);
    } catch (error) {
      if (this.mustStop(job.id)) return;
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error(`key re-wrap job ${job.id} failed: ${message}`);
      await this.jobs.finish(job.id, message, { ...result }).catch(() => undefined);
    }
  }

  /** Tests only (STRATA_TEST_FAILPOINT=keys:batch): a kill -9 right after a batch commits. */
  private failpoint(step: string): void {
    if (this.config.testFailpoint === `keys:${step}`) process.kill(process.pid, 'SIGKILL');
  }
}
