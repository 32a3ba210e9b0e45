import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig, type TierName } from '../config/index.js';
import { Database } from '../database/index.js';
import { BlobStore } from '../storage/index.js';
import { DoneMarks } from './done-marks.js';
import { JobLeases } from './job-leases.service.js';
import { type Job, JobRepository } from './job.repository.js';
import { type MoveEntry, MoveJournalRepository } from './move-journal.repository.js';
import { TIERING_OPTIONS, type TieringOptions } from './tiering-options.js';

export { TIERING_OPTIONS, type TieringOptions };

export const MOVE_JOB = 'tier-move';

/**
 * Objects of one job moved at the same time. Each object's steps wait in turn (read, send, the
 * server's answer, a commit, the old copy's removal), so more in flight keep the target busy:
 * on the bench machine 4 reached 39-45 % of s3rver's raw PutObject rate, 8 56-61 %, 16 61-72 %.
 * Memory: objects up to 4 MiB are read whole, larger ones streamed a chunk at a time, so at most
 * about 64 MiB of object data per job.
 */
const MOVES_IN_FLIGHT = 16;

export interface MoveRequest {
  studyInstanceUid: string;
  seriesInstanceUid: string | null;
  tier: TierName;
  actor: string;
  actorHost: string | null;
  /** The caller's role (an API token's), for the audit trail; null for the CLI or the system. */
  role?: string | null;
  /** Why, when a policy asked for the move (recorded in the job and its audit rows). */
  policy?: { version: string; rule: string | null; reason: string };
}

/** One stored copy of a blob of the study being moved. */
interface BlobCopy {
  blobId: string;
  locationId: string;
  backend: string;
  key: string;
  tier: string;
  storedSize: number;
  /** The blob's HMAC digest and plaintext size, which the copy is verified against. */
  blob: BlobDigest;
}

interface BlobDigest {
  digest: Buffer;
  size: string;
}

const PROGRESS_EVERY_MS = 250;
/** Blobs whose move plans are recorded in one commit. */
const PLAN_BATCH = 32;

const TIER_ORDER = `CASE l.tier WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 WHEN 'cold' THEN 2 ELSE 3 END`;

/**
 * Moves a study's (or a series') objects to another tier, as a job: per blob, copy → verify (the
 * copy decrypts to the blob's digest and size) → add the new location → remove the old ones from
 * the catalog → delete the old objects. Every step is recorded in the move journal before the next
 * starts, so a kill at any point resumes at the next start: nothing lost (the old copy stays until
 * the new one is verified and recorded), nothing orphaned (the new key is known before it is
 * written). Moves of one study are serialised by a PostgreSQL advisory lock (across nodes too).
 * Jobs run one at a time in this process; objects stream through, whatever their size. A job runs
 * on the node holding its lease (JobLeases): a node that died leaves its job to another, which
 * resumes it from the journal once the lease has expired; a node that lost its lease stops at its
 * next step.
 */
@Injectable()
export class TierMover implements OnApplicationShutdown {
  private readonly logger = new Logger('Tiering');
  private readonly jobs: JobRepository;
  private readonly journal: MoveJournalRepository;
  private readonly queue: string[] = [];
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly audit: AuditService,
    private readonly leases: JobLeases,
  ) {
    this.jobs = new JobRepository(db);
    this.journal = new MoveJournalRepository(db);
    // Interrupted moves (this node's after a restart, or a dead node's) come back through here.
    leases.register({
      kinds: [MOVE_JOB],
      spare: () => (this.running || this.queue.length > 0 ? 0 : 1),
      resume: (id) => {
        this.logger.warn(`resuming the interrupted tier move job ${id}`);
        this.enqueue(id);
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    // The job in progress stops at its next step; the journal resumes it on the next node to
    // claim it (another one at once, as its lease is released, or this one at its restart).
    this.stopping = true;
    const queued = this.queue.splice(0);
    await this.running?.catch(() => undefined);
    for (const id of queued) await this.leases.release(id).catch(() => undefined);
  }

  /** Records a move job and starts it (after the jobs queued before it). */
  async request(req: MoveRequest): Promise<Job> {
    const job = await this.jobs.create(
      MOVE_JOB,
      {
        studyInstanceUid: req.studyInstanceUid,
        seriesInstanceUid: req.seriesInstanceUid,
        tier: req.tier,
        actorHost: req.actorHost,
        role: req.role ?? null,
        ...(req.policy ? { policy: req.policy } : {}),
      },
      req.actor,
      this.leases.claimant,
    );
    this.leases.adopt(job.id);
    this.enqueue(job.id);
    return job;
  }

  /** Studies with a move job queued or running (a sweep does not ask for another). */
  async pendingStudyMoves(): Promise<Set<string>> {
    const jobs = await this.jobs.unfinished(MOVE_JOB);
    return new Set(jobs.map((j) => String(j.params.studyInstanceUid)));
  }

  getJob(id: string): Promise<Job | null> {
    return this.jobs.get(id);
  }

  /** Resolves when every queued job has run (tests, the CLI). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private enqueue(jobId: string): void {
    this.queue.push(jobId);
    if (!this.running) {
      this.running = this.drain().finally(() => (this.running = null));
    }
  }

  private async drain(): Promise<void> {
    for (let id = this.queue.shift(); id && !this.stopping; id = this.queue.shift()) {
      // Taken over by another node while it waited here: theirs now.
      if (!this.leases.holds(id)) continue;
      const job = await this.jobs.get(id);
      if (!job || job.status === 'done' || job.status === 'failed') {
        this.leases.finished(id);
        continue;
      }
      try {
        await this.run(job);
        if (this.stopping) await this.leases.release(id);
        else if (!this.leases.holds(id))
          this.logger.warn(`tier move job ${id}: stopped, as another node took it over`);
      } catch (error) {
        if (this.stopping) {
          await this.leases.release(id).catch(() => undefined);
          return;
        }
        if (!this.leases.holds(id)) {
          this.logger.warn(`tier move job ${id}: stopped, as another node took it over`);
          continue;
        }
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(`tier move job ${job.id} failed: ${message}`);
        // Audited first: once the job shows as ended, its audit row is there.
        await this.auditJob(job, 'failure', { error: message }).catch(() => undefined);
        await this.jobs.finish(job.id, message).catch(() => undefined);
      } finally {
        this.leases.finished(id);
      }
    }
  }

  /** Whether the job must stop at this step: the node is stopping, or lost the job's lease. */
  private mustStop(jobId: string): boolean {
    return this.stopping || !this.leases.holds(jobId);
  }

  private async run(job: Job): Promise<void> {
    const p = job.params as {
      studyInstanceUid: string;
      seriesInstanceUid: string | null;
      tier: TierName;
    };
    await this.db.withConnection(async (lockConnection) => {
      // Serialises moves of the same study, across nodes: a second job waits here.
      await lockConnection.query('SELECT pg_advisory_lock(hashtext($1))', [
        `move:${p.studyInstanceUid}`,
      ]);
      try {
        await this.moveAll(job, p);
      } finally {
        await lockConnection
          .query('SELECT pg_advisory_unlock(hashtext($1))', [`move:${p.studyInstanceUid}`])
          .catch(() => undefined);
      }
    });
  }

  private async moveAll(
    job: Job,
    p: { studyInstanceUid: string; seriesInstanceUid: string | null; tier: TierName },
  ): Promise<void> {
    const copies = await this.copiesOf(p.studyInstanceUid, p.seriesInstanceUid);
    const byBlob = new Map<string, BlobCopy[]>();
    for (const c of copies) byBlob.set(c.blobId, [...(byBlob.get(c.blobId) ?? []), c]);
    const journaled = new Map((await this.journal.forJob(job.id)).map((e) => [e.blobId, e]));
    await this.jobs.start(
      job.id,
      byBlob.size + [...journaled.keys()].filter((b) => !byBlob.has(b)).length,
    );
    let done = 0;
    let bytes = 0;
    const targetBackend = this.blobs.backendOf(p.tier);
    const tasks: (() => Promise<number>)[] = [];
    // Blobs whose move a crash interrupted first (their copies may already have changed).
    for (const entry of journaled.values()) {
      byBlob.delete(entry.blobId);
      tasks.push(async () => {
        await this.advance(entry, p.studyInstanceUid);
        return entry.storedSize;
      });
    }
    const doneMarks = new DoneMarks(
      (ids) => this.journal.setDone(ids),
      () => this.failpoint('done'),
    );
    // Plans are recorded a batch at a time (one commit for many blobs), as the workers reach them.
    const toPlan: (Parameters<MoveJournalRepository['planMany']>[0][number] & { index: number })[] =
      [];
    const plans = new Map<string, Promise<MoveEntry>>();
    const planFrom = (index: number) => {
      const batch = toPlan.slice(index, index + PLAN_BATCH);
      const recorded = this.journal.planMany(batch).then((entries) => {
        this.failpoint('planned');
        return entries;
      });
      for (const e of batch)
        plans.set(
          e.blobId,
          recorded.then((m) => m.get(e.blobId)!),
        );
    };
    for (const [blobId, blobCopies] of byBlob) {
      const there = blobCopies.find((c) => c.tier === p.tier && c.backend === targetBackend);
      const source = there ?? blobCopies[0]!;
      if (there && blobCopies.length === 1) {
        tasks.push(async () => 0); // already where it should be
        continue;
      }
      const index = toPlan.length;
      toPlan.push({
        index,
        jobId: job.id,
        blobId,
        fromLocationId: source.locationId,
        from: { backend: source.backend, key: source.key },
        to: there
          ? { backend: there.backend, key: there.key, tier: p.tier }
          : { backend: targetBackend, key: this.blobs.newKey(), tier: p.tier },
        storedSize: source.storedSize,
        // A copy on the target tier exists: only the others are left to remove.
        step: there ? 'added' : 'planned',
      });
      tasks.push(async () => {
        if (!plans.has(blobId)) planFrom(index - (index % PLAN_BATCH));
        const entry = await plans.get(blobId)!;
        await this.advance(
          entry,
          p.studyInstanceUid,
          {
            // Just planned at a new key (not an entry found from before): nothing is there yet.
            fresh: entry.step === 'planned' && entry.to.key === toPlan[index]!.to.key && !there,
            blob: source.blob,
          },
          doneMarks,
        );
        return there ? 0 : source.storedSize;
      });
    }
    // A few objects in flight: each one's steps are sequential and journaled on their own, and
    // the transfers of one overlap the round trips of the others.
    let next = 0;
    let failed = false;
    let lastProgress = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length && !this.mustStop(job.id) && !failed) {
        const task = tasks[next++]!;
        try {
          bytes += await task();
        } catch (error) {
          failed = true; // the others finish the object they hold, and take no more
          throw error;
        }
        done++;
        // Progress is shown, not journaled: at most a few updates a second.
        if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = Date.now();
          await this.jobs.progress(job.id, done, bytes);
        }
      }
    };
    // Every worker ends before the job does (and before the study's lock is released), so no
    // object of this study is still being moved when the next job for it starts.
    const ended = await Promise.allSettled(Array.from({ length: MOVES_IN_FLIGHT }, worker));
    await doneMarks.flush();
    const failure = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    if (this.mustStop(job.id)) return;
    await this.jobs.progress(job.id, done, bytes);
    await this.auditJob(job, 'success', { blobs: done, bytes });
    await this.jobs.finish(job.id, null);
  }

  /**
   * Takes one blob's move from its recorded step to the end. `fresh`: just planned, at a new
   * random key, so nothing can be there yet to clear.
   */
  private async advance(
    entry: MoveEntry,
    studyUid: string,
    known: { fresh: boolean; blob: BlobDigest } | null = null,
    doneMarks: DoneMarks | null = null,
  ): Promise<void> {
    let fresh = known?.fresh ?? false;
    let step = entry.step;
    let removed = entry.removed;
    const from = { ...entry.from, tier: '' };
    const to = entry.to;
    for (let attempt = 0; step !== 'done' && step !== 'failed';) {
      if (this.mustStop(entry.jobId)) throw new Error('stopping');
      if (step === 'planned') {
        await this.waitForRestore(entry);
        // A crash (or a failed attempt) may have left part of the copy: start again from nothing.
        if (!fresh) await this.blobs.deleteObject(to);
        fresh = false;
        const copy = await this.blobs.copyToTier(from, to.tier as TierName, to.key, studyUid);
        const blob = known?.blob ?? (await this.blobOf(entry.blobId));
        if (
          copy.source === null ||
          !copy.source.digest.equals(blob.digest) ||
          copy.source.size !== Number(blob.size)
        ) {
          await this.blobs.deleteObject(to);
          const message = 'the copy moved from does not match its digest';
          await this.journal.setStep(this.db, entry.id, 'failed', message);
          throw new Error(
            `${message} (strata fsck repairs it from another copy); it was not moved`,
          );
        }
        // The source decrypted to its digest in the same pass, and the server confirmed it got
        // those very bytes: verified without reading the copy back.
        if (copy.confirmed && copy.size === entry.storedSize) {
          ({ step, removed } = await this.switchLocations(entry, copy.checksum));
        } else {
          step = await this.commitStep(entry, 'copied');
        }
      } else if (step === 'copied') {
        const blob = known?.blob ?? (await this.blobOf(entry.blobId));
        if (!(await this.verifyCopy(entry, studyUid, blob))) {
          if (++attempt > 2) {
            await this.blobs.deleteObject(to);
            await this.journal.setStep(this.db, entry.id, 'failed', 'the copy did not verify');
            throw new Error(`the copy of a blob did not verify (twice); its old copy is kept`);
          }
          step = await this.commitStep(entry, 'planned');
          continue;
        }
        ({ step, removed } = await this.switchLocations(entry, null));
      } else if (step === 'added') {
        removed = await this.db.transaction(async (tx) => {
          const gone = await tx.query<{ backend: string; key: string }>(
            `DELETE FROM locations WHERE blob_fk = $1 AND NOT (backend = $2 AND key = $3)
             RETURNING backend, key`,
            [entry.blobId, to.backend, to.key],
          );
          await this.journal.setRemoved(tx, entry.id, gone);
          return gone;
        });
        step = 'removed';
        this.failpoint('removed');
      } else if (step === 'removed') {
        for (const old of removed) await this.blobs.deleteObject(old);
        if (doneMarks) {
          await doneMarks.add(entry.id);
          step = 'done';
        } else {
          step = await this.commitStep(entry, 'done');
        }
      }
    }
  }

  /** The verified copy replaces the blob's other locations (one commit; see the journal). */
  private async switchLocations(
    entry: MoveEntry,
    checksum: string | null,
  ): Promise<{ step: 'removed'; removed: { backend: string; key: string }[] }> {
    const removed = await this.journal.switchLocations(entry, checksum);
    this.failpoint('removed');
    return { step: 'removed', removed };
  }

  private async blobOf(blobId: string): Promise<BlobDigest> {
    const [blob] = await this.db.query<{ digest: Buffer; size: string }>(
      'SELECT digest, size FROM blobs WHERE id = $1',
      [blobId],
    );
    if (!blob) throw new Error('the blob being moved is no longer in the catalog');
    return blob;
  }

  /**
   * A copy on an archive class (Glacier) can be read only once restored: request the restore if
   * nobody did, and wait for it (the job shows no progress meanwhile; hours, for a Standard
   * restore). Polls at a tenth of the expected wait, between 1 s and 1 min.
   */
  private async waitForRestore(entry: MoveEntry): Promise<void> {
    if (!this.blobs.mayNeedRestore(entry.from.backend)) return;
    const [row] = await this.db.query<{ tier: string }>(
      'SELECT tier FROM locations WHERE id = $1',
      [entry.fromLocationId],
    );
    if (!row) return; // already removed: a resumed move past this point
    const from = { ...entry.from, tier: row.tier };
    let state = await this.blobs.restoreState(from);
    if (state === 'ready') return;
    let expectedSeconds = 60;
    if (state === 'archived') ({ expectedSeconds } = await this.blobs.requestRestore(from));
    const pollMs = Math.min(60_000, Math.max(1_000, (expectedSeconds * 1000) / 10));
    while (state !== 'ready') {
      if (this.mustStop(entry.jobId)) throw new Error('stopping');
      await new Promise((r) => setTimeout(r, pollMs));
      state = await this.blobs.restoreState(from);
    }
  }

  /**
   * Whether the new copy is whole: decrypted and compared with the blob's digest and size; on an
   * archive class (Glacier), where a read needs a restore and costs retrieval fees, by its stored
   * size (the upload itself was integrity-checked by S3), and fixity checks it later when asked.
   */
  private async verifyCopy(
    entry: MoveEntry,
    studyUid: string,
    blob: { digest: Buffer; size: string },
  ): Promise<boolean> {
    if (this.blobs.isArchiveTier(entry.to.tier as TierName)) {
      return (await this.blobs.storedSize(entry.to).catch(() => null)) === entry.storedSize;
    }
    const check = await this.blobs.digestOf(entry.to, studyUid).catch(() => null);
    return check !== null && check.digest.equals(blob.digest) && check.size === Number(blob.size);
  }

  private async commitStep<S extends MoveEntry['step']>(entry: MoveEntry, step: S): Promise<S> {
    await this.journal.setStep(this.db, entry.id, step);
    this.failpoint(step);
    return step;
  }

  /** Tests only (STRATA_TEST_FAILPOINT=move:<step>): a kill -9 right after a step commits. */
  private failpoint(step: string): void {
    if (this.config.testFailpoint === `move:${step}`) process.kill(process.pid, 'SIGKILL');
  }

  /** Every stored copy of the blobs of a study (or series), all versions. */
  private async copiesOf(studyUid: string, seriesUid: string | null): Promise<BlobCopy[]> {
    const rows = await this.db.query<{
      blob_id: string;
      location_id: string;
      backend: string;
      key: string;
      tier: string;
      stored_size: string;
      digest: Buffer;
      size: string;
    }>(
      `SELECT DISTINCT b.id AS blob_id, l.id AS location_id, l.backend, l.key, l.tier, l.stored_size,
              b.digest, b.size, ${TIER_ORDER} AS tier_order
         FROM studies st
         JOIN instances i ON i.study_fk = st.id
         JOIN series se ON se.id = i.series_fk
         JOIN instance_versions v ON v.instance_fk = i.id
         JOIN blobs b ON b.id = v.blob_fk
         JOIN locations l ON l.blob_fk = b.id AND l.status = 'ok'
        WHERE st.study_instance_uid = $1 AND ($2::text IS NULL OR se.series_instance_uid = $2)
        ORDER BY b.id, tier_order, l.id`,
      [studyUid, seriesUid],
    );
    return rows.map((r) => ({
      blobId: String(r.blob_id),
      locationId: String(r.location_id),
      backend: r.backend,
      key: r.key,
      tier: r.tier,
      storedSize: Number(r.stored_size),
      blob: { digest: r.digest, size: String(r.size) },
    }));
  }

  private async auditJob(
    job: Job,
    outcome: 'success' | 'failure',
    detail: Record<string, unknown>,
  ): Promise<void> {
    const p = job.params as {
      studyInstanceUid: string;
      seriesInstanceUid: string | null;
      tier: string;
      actorHost: string | null;
      role?: string | null;
      policy?: Record<string, unknown>;
    };
    const [study] = await this.db.query<{ patient_id: string | null }>(
      'SELECT patient_id FROM studies WHERE study_instance_uid = $1',
      [p.studyInstanceUid],
    );
    await this.audit.recordAlone({
      actor: job.actor,
      actorHost: p.actorHost,
      role: p.role ?? null,
      action: 'study.moved',
      outcome,
      patientId: study?.patient_id ?? null,
      studyInstanceUid: p.studyInstanceUid,
      detail: {
        job: job.id,
        tier: p.tier,
        series: p.seriesInstanceUid,
        ...(p.policy ? { policy: p.policy } : {}),
        ...detail,
      },
    });
  }
}
