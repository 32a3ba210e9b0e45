import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import cron, { type ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig, TIER_NAMES, type TierName } from '../config/index.js';
import { Database } from '../database/index.js';
import { Registry } from '../metrics/index.js';
import { BlobStore, type BlobLocation } from '../storage/index.js';
import { FixityMetrics } from './fixity-metrics.js';
import { type Job, JobRepository } from './job.repository.js';
import { JobLeases } from './job-leases.service.js';
import { TIERING_OPTIONS, type TieringOptions } from './tier-mover.service.js';

export const FIXITY_JOB = 'fixity';

export interface FixityRequest {
  /** Only this tier; null = every tier (cold only with includeCold). */
  tier: TierName | null;
  /** Share of locations checked, 1-100 (a random sample below 100). */
  samplePercent: number;
  /** Read the cold tier too: archive classes may need restores and cost retrieval fees. */
  includeCold: boolean;
  /**
   * Read and decrypt every copy, even those the storage server's checksum can vouch for (copies
   * whose S3 ETag was confirmed at write are otherwise checked with a HEAD request: no transfer).
   */
  deep: boolean;
  actor: string;
  actorHost: string | null;
  /** The caller's role (an API token's), for the audit trail; null for the CLI or the system. */
  role?: string | null;
}

export interface FixityResult {
  checked: number;
  /** Of those, checked by the server's checksum and size (HEAD), without reading. */
  byChecksum: number;
  ok: number;
  missing: number;
  corrupt: number;
  /** Could not be read this time (backend unreachable, not restored): not marked, try again. */
  unreadable: number;
  repaired: number;
  /** Bad copies with no good copy left to repair from: reported, kept marked. */
  unrepaired: number;
}

interface LocationRow {
  id: string;
  blob_id: string;
  backend: string;
  key: string;
  tier: string;
  stored_size: string;
  digest: Buffer;
  size: string;
  study_instance_uid: string;
  checksum: string | null;
}

/** Where a fixity run is, saved with its figures after each batch, for a node that goes on. */
interface FixityCursor {
  /** The last location id of the last batch checked. */
  after: string;
  /** The highest location id when the run began: copies made since are not its business. */
  last: string;
  planned: number;
  bytes: number;
}

const BATCH = 200;
const CHECKS_IN_FLIGHT = 4;
const LEASE = 'fixity';
const TIER_ORDER = `CASE l.tier WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 WHEN 'cold' THEN 2 ELSE 3 END`;

/**
 * Fixity: every stored copy is read back, decrypted and checked against its blob's HMAC digest
 * and size (so a bit flip, a truncation, a swapped or missing object are all caught, on
 * filesystem and S3 alike). A bad copy is marked ('missing' or 'corrupt', so reads no longer use
 * it), audited, and repaired from another good copy when one exists: a new copy on the same tier,
 * verified the same way, then the bad one removed. Runs as a job, on demand (API, CLI) and on the
 * configured schedule, once per tick across nodes (a lease row in PostgreSQL).
 */
@Injectable()
export class FixityService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Fixity');
  private readonly jobs: JobRepository;
  private readonly metrics: FixityMetrics;
  private task: ScheduledTask | null = null;
  private running: Promise<void> = Promise.resolve();
  private busy = 0;
  private stopping = false;
  private readonly node = randomUUID();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    @Inject(TIERING_OPTIONS) private readonly options: TieringOptions,
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly audit: AuditService,
    private readonly leases: JobLeases,
    registry: Registry,
  ) {
    // Interrupted runs (this node's after a restart, or a dead node's) go on from their cursor.
    leases.register({
      kinds: [FIXITY_JOB],
      spare: () => (this.busy ? 0 : 1),
      resume: (id) => {
        this.logger.warn(`resuming the interrupted fixity job ${id}`);
        this.enqueue(() => this.resume(id));
      },
    });
    this.jobs = new JobRepository(db);
    this.metrics = new FixityMetrics(registry, db);
  }

  onApplicationBootstrap(): void {
    const schedule = this.config.fixity.schedule;
    if (!this.options.resumeJobs || !schedule) return;
    this.task = cron.schedule(schedule, () => void this.scheduledRun(), { name: 'fixity' });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.task?.stop();
    await this.running.catch(() => undefined);
  }

  /** Records a fixity job and runs it (after any running one). */
  async request(req: FixityRequest): Promise<Job> {
    const job = await this.jobs.create(
      FIXITY_JOB,
      {
        tier: req.tier,
        samplePercent: req.samplePercent,
        includeCold: req.includeCold,
        deep: req.deep,
        actorHost: req.actorHost,
        role: req.role ?? null,
      },
      req.actor,
      this.leases.claimant,
    );
    this.leases.adopt(job.id);
    this.enqueue(() => this.run(job, req, null));
    return job;
  }

  /** Runs after any job already running here (one fixity run at a time per node). */
  private enqueue(work: () => Promise<void>): void {
    this.busy++;
    this.running = this.running
      .then(work)
      .catch(() => undefined)
      .finally(() => this.busy--);
  }

  /** Goes on with a job this node just claimed, from the cursor of its last finished batch. */
  private async resume(id: string): Promise<void> {
    const job = await this.jobs.get(id);
    if (!job || job.status === 'done' || job.status === 'failed') {
      this.leases.finished(id);
      return;
    }
    const p = job.params;
    const req: FixityRequest = {
      tier: (p.tier as TierName | null) ?? null,
      samplePercent: Number(p.samplePercent),
      includeCold: Boolean(p.includeCold),
      deep: Boolean(p.deep),
      actor: job.actor,
      actorHost: (p.actorHost as string | null) ?? null,
      role: (p.role as string | null) ?? null,
    };
    const saved = job.result as (FixityResult & FixityCursor) | null;
    await this.run(job, req, saved && typeof saved.after === 'string' ? saved : null);
  }

  /** Resolves when the jobs started so far have ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async scheduledRun(): Promise<void> {
    // One node per tick: whoever extends the lease first runs it.
    const [won] = await this.db.query(
      `INSERT INTO schedule_leases (name, holder, until) VALUES ($1, $2, now() + interval '1 hour')
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
        WHERE schedule_leases.until < now()
       RETURNING holder`,
      [LEASE, this.node],
    );
    if (!won) return;
    await this.request({
      tier: null,
      samplePercent: this.config.fixity.samplePercent,
      includeCold: this.config.fixity.includeCold,
      deep: false,
      actor: 'scheduler',
      actorHost: null,
    });
  }

  private async run(
    job: Job,
    req: FixityRequest,
    from: (FixityResult & FixityCursor) | null,
  ): Promise<void> {
    const result: FixityResult = {
      checked: from?.checked ?? 0,
      byChecksum: from?.byChecksum ?? 0,
      ok: from?.ok ?? 0,
      missing: from?.missing ?? 0,
      corrupt: from?.corrupt ?? 0,
      unreadable: from?.unreadable ?? 0,
      repaired: from?.repaired ?? 0,
      unrepaired: from?.unrepaired ?? 0,
    };
    const mustStop = () => this.stopping || !this.leases.holds(job.id);
    const tiers = req.tier ? [req.tier] : TIER_NAMES.filter((t) => t !== 'cold' || req.includeCold);
    try {
      // The copies there are now: repairs made during the run are not checked again.
      const [{ n, last }] = from
        ? [{ n: from.planned, last: from.last }]
        : ((await this.db.query<{ n: number; last: string }>(
            `SELECT count(*)::int AS n, coalesce(max(id), 0)::text AS last
               FROM locations WHERE tier = ANY($1::text[])`,
            [tiers],
          )) as [{ n: number; last: string }]);
      await this.jobs.start(job.id, Math.ceil((n * req.samplePercent) / 100));
      let bytes = from?.bytes ?? 0;
      for (let after = from?.after ?? '0'; !mustStop();) {
        const batch = await this.db.query<LocationRow>(
          `SELECT l.id, l.blob_fk AS blob_id, l.backend, l.key, l.tier, l.stored_size,
                  b.digest, b.size, b.study_instance_uid, l.checksum
             FROM locations l JOIN blobs b ON b.id = l.blob_fk
            WHERE l.tier = ANY($1::text[]) AND l.id > $2 AND l.id <= $4 ORDER BY l.id LIMIT $3`,
          [tiers, after, BATCH, last],
        );
        if (batch.length === 0) break;
        after = String(batch[batch.length - 1]!.id);
        const chosen = batch.filter(
          () => req.samplePercent >= 100 || Math.random() * 100 < req.samplePercent,
        );
        // A few copies at a time: a check is mostly waiting (a HEAD request, a read, a commit).
        let next = 0;
        const worker = async () => {
          for (let row = chosen[next++]; row && !mustStop(); row = chosen[next++]) {
            await this.checkOne(job, row, result, req.deep);
            bytes += Number(row.stored_size);
          }
        };
        await Promise.all(Array.from({ length: CHECKS_IN_FLIGHT }, worker));
        if (mustStop()) break; // this batch is checked again by whoever goes on with the job
        await this.jobs.progress(job.id, result.checked, bytes);
        const cursor: FixityCursor = { after, last, planned: n, bytes };
        await this.jobs.checkpoint(job.id, result.checked, { ...result, ...cursor });
      }
      if (mustStop()) {
        // Stopping: another node (or this one at its restart) goes on from the last checkpoint.
        if (this.stopping) await this.leases.release(job.id).catch(() => undefined);
        else this.logger.warn(`fixity job ${job.id}: stopped, as another node took it over`);
        return;
      }
      const bad = result.missing + result.corrupt;
      await this.audit.recordAlone({
        actor: job.actor,
        actorHost: req.actorHost,
        role: req.role ?? null,
        action: 'fixity.checked',
        outcome: result.unrepaired > 0 ? 'failure' : bad > 0 ? 'warning' : 'success',
        detail: { job: job.id, tiers, samplePercent: req.samplePercent, ...result },
      });
      // Audited first: once the job shows as ended, its audit row is there.
      await this.jobs.finish(job.id, null, { ...result });
      this.metrics.lastRunEnd.setToCurrentTime();
      if (bad > 0) {
        this.logger.warn(
          `fixity job ${job.id}: ${result.missing} missing and ${result.corrupt} corrupt copies, ` +
            `${result.repaired} repaired, ${result.unrepaired} with no good copy left`,
        );
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (mustStop()) {
        // Not this node's to end: it is stopping (another node goes on from the checkpoint), or
        // another node has taken the run over.
        if (this.stopping) await this.leases.release(job.id).catch(() => undefined);
        this.logger.warn(`fixity job ${job.id}: stopped (${message})`);
        return;
      }
      this.logger.error(`fixity job ${job.id} failed: ${message}`);
      await this.jobs.finish(job.id, message, { ...result }).catch(() => undefined);
    } finally {
      this.leases.finished(job.id);
    }
  }

  private async checkOne(
    job: Job,
    row: LocationRow,
    result: FixityResult,
    deep: boolean,
  ): Promise<void> {
    result.checked++;
    const location: BlobLocation = { backend: row.backend, key: row.key, tier: row.tier };
    const byChecksum = row.checksum !== null && !deep;
    if (byChecksum) result.byChecksum++;
    const problem = byChecksum
      ? await this.verifyByChecksum(location, row)
      : await this.verify(location, row);
    this.metrics.checked.inc({ tier: row.tier, result: problem ?? 'ok' });
    if (problem === null) {
      result.ok++;
      await this.db.query(`UPDATE locations SET status = 'ok', verified_at = now() WHERE id = $1`, [
        row.id,
      ]);
      return;
    }
    if (problem === 'unreadable') {
      result.unreadable++;
      return;
    }
    result[problem]++;
    await this.db.query('UPDATE locations SET status = $2 WHERE id = $1', [row.id, problem]);
    await this.audit.recordAlone({
      actor: job.actor,
      action: 'location.fixity-failed',
      outcome: 'failure',
      studyInstanceUid: row.study_instance_uid,
      detail: { job: job.id, backend: row.backend, key: row.key, tier: row.tier, problem },
    });
    if (await this.repair(job, row, location)) {
      result.repaired++;
      this.metrics.repaired.inc({ tier: row.tier });
    } else result.unrepaired++;
  }

  /**
   * null when the server still has the object with the checksum and size it confirmed at write
   * (S3 checks its own copies; this catches an object deleted, replaced or truncated since).
   */
  private async verifyByChecksum(
    location: BlobLocation,
    row: LocationRow,
  ): Promise<'missing' | 'corrupt' | 'unreadable' | null> {
    try {
      const stat = await this.blobs.statObject(location);
      if (!stat) return 'missing';
      return stat.checksum === row.checksum && stat.size === Number(row.stored_size)
        ? null
        : 'corrupt';
    } catch {
      return 'unreadable';
    }
  }

  /** null when the copy decrypts to the blob's digest and size. */
  private async verify(
    location: BlobLocation,
    row: LocationRow,
  ): Promise<'missing' | 'corrupt' | 'unreadable' | null> {
    try {
      const { digest, size } = await this.blobs.digestOf(location, row.study_instance_uid);
      return digest.equals(row.digest) && size === Number(row.size) ? null : 'corrupt';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOENT') return 'missing';
      // The backend did not answer (or the object awaits a restore): nothing is known yet.
      if (code === 'EIO' || code === 'NOT_RESTORED' || code === 'ECONNREFUSED') return 'unreadable';
      return 'corrupt'; // read, but it does not decrypt: damaged
    }
  }

  /** A new copy on the bad copy's tier, from another good copy, verified; then the bad one goes. */
  private async repair(job: Job, bad: LocationRow, location: BlobLocation): Promise<boolean> {
    const [good] = await this.db.query<{ backend: string; key: string; tier: string }>(
      `SELECT l.backend, l.key, l.tier FROM locations l
        WHERE l.blob_fk = $1 AND l.id <> $2 AND l.status = 'ok'
        ORDER BY ${TIER_ORDER}, l.id LIMIT 1`,
      [bad.blob_id, bad.id],
    );
    if (!good) return false;
    const tier = bad.tier as TierName;
    const key = this.blobs.newKey();
    try {
      const copy = await this.blobs.copyToTier(good, tier, key, bad.study_instance_uid);
      const check = await this.verify(copy.location, bad);
      if (check !== null) {
        await this.blobs.deleteObject(copy.location);
        return false;
      }
      await this.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO locations (blob_fk, backend, key, tier, stored_size, status, verified_at)
           VALUES ($1, $2, $3, $4, $5, 'ok', now())`,
          [bad.blob_id, copy.location.backend, key, tier, copy.size],
        );
        await tx.query('DELETE FROM locations WHERE id = $1', [bad.id]);
      });
      await this.blobs.deleteObject(location).catch(() => undefined);
      await this.audit.recordAlone({
        actor: job.actor,
        action: 'location.repaired',
        outcome: 'success',
        studyInstanceUid: bad.study_instance_uid,
        detail: {
          job: job.id,
          from: { backend: good.backend, tier: good.tier },
          to: { backend: copy.location.backend, key, tier },
          replaced: { backend: bad.backend, key: bad.key },
        },
      });
      return true;
    } catch (error) {
      this.logger.warn(`could not repair a copy on '${bad.backend}': ${String(error)}`);
      await this.blobs
        .deleteObject({ backend: this.blobs.backendOf(tier), key })
        .catch(() => undefined);
      return false;
    }
  }
}
