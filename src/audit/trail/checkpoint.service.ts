import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import { Database } from '../../database/index.js';
import { ARCHIVE_SIGNER, type ArchiveSigner } from './archive-signer.js';
import { AuditTrailRepository } from './audit-trail.repository.js';
import { type Checkpoint, checkpointText } from './checkpoint.js';

export const AUDIT_TRAIL_OPTIONS = Symbol('AUDIT_TRAIL_OPTIONS');

export interface AuditTrailOptions {
  /** Check every few seconds whether a checkpoint is due (the server; not a CLI command). */
  schedule: boolean;
}

/** How often the server looks whether a checkpoint is due. */
const POLL_MS = 5_000;

/**
 * Signs the chain head every N rows or M minutes (config audit.checkpointEvery), whichever comes
 * first, so that no row stays unsigned much longer than M minutes and rewriting the chain cannot
 * go unnoticed past the last checkpoint. The server looks every 5 seconds (one indexed read of the
 * head); with several nodes, each tick runs on the one that takes the lock. Checkpoints are not
 * audit events themselves: an event recording one would move the head it signs.
 */
@Injectable()
export class CheckpointService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    @Inject(AUDIT_TRAIL_OPTIONS) private readonly options: AuditTrailOptions,
    @Inject(ARCHIVE_SIGNER) private readonly signer: ArchiveSigner,
    private readonly db: Database,
    private readonly repo: AuditTrailRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.schedule) return;
    await this.warnIfUnprotected();
    this.timer = setInterval(() => {
      this.running = this.tick().catch((e: unknown) =>
        this.logger.error(`audit checkpoint failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    }, POLL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Writes a checkpoint if one is due (N rows or M minutes since the last); returns it. */
  tick(now: Date = new Date()): Promise<Checkpoint | null> {
    return this.write(now, false);
  }

  /** Signs the current head now unless a checkpoint already covers it. */
  checkpointNow(now: Date = new Date()): Promise<Checkpoint | null> {
    return this.write(now, true);
  }

  /**
   * Makes sure a checkpoint covers `seq` (an export's last row): signs the head now if none does.
   * Returns the covering checkpoint, or null when `seq` is beyond the head.
   */
  async ensureCovered(seq: number): Promise<Checkpoint | null> {
    for (let attempt = 0; ; attempt++) {
      const covering = await this.repo.checkpointCovering(this.db, seq);
      if (covering || attempt === 3) return covering;
      // Another node may hold the writers' lock for a moment: its checkpoint covers it too.
      if (!(await this.checkpointNow()) && attempt > 0) {
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  private async write(now: Date, force: boolean): Promise<Checkpoint | null> {
    const every = this.config.audit.checkpointEvery;
    return this.db.transaction(async (tx) => {
      if (!(await this.repo.tryCheckpointLock(tx))) return null;
      const [head, last] = await Promise.all([this.repo.head(tx), this.repo.lastCheckpoint(tx)]);
      if (!head || (last && last.seq >= head.seq)) return null;
      if (!force) {
        const behind = head.seq - (last?.seq ?? 0);
        const oldest =
          behind >= every.rows ? null : await this.repo.firstAtAfter(tx, last?.seq ?? 0);
        const due =
          behind >= every.rows ||
          (oldest !== null && now.getTime() - oldest.getTime() >= every.minutes * 60_000);
        if (!due) return null;
      }
      const at = now.toISOString();
      const { signature, fingerprint } = await this.signer.sign(
        checkpointText({ seq: head.seq, hash: head.hash, at }),
      );
      const checkpoint: Checkpoint = {
        seq: head.seq,
        hash: head.hash,
        at,
        signature,
        keyFingerprint: fingerprint,
      };
      return (await this.repo.insertCheckpoint(tx, checkpoint)) ? checkpoint : null;
    });
  }

  /**
   * Says once, at start, when the application's database role could switch the append-only
   * triggers off (the embedded PostgreSQL's superuser, or the tables' owner).
   */
  private async warnIfUnprotected(): Promise<void> {
    const p = await this.repo.protection(this.db);
    if (p.superuser || p.ownsTable) {
      this.logger.log(
        `audit trail: the database role '${p.role}' is ${p.superuser ? 'a superuser' : "the audit tables' owner"}, ` +
          'so it could disable the append-only triggers; any change would still break the hash chain ' +
          'or its signed checkpoints (strata audit verify). See the README for a role that cannot.',
      );
    }
  }
}
