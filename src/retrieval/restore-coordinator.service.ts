import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { type BlobLocation, BlobStore } from '../storage/index.js';
import { type Response } from 'express';
import { problem, type Requester } from './http.js';

interface PendingRestore {
  expectedAt: Date;
  timer: NodeJS.Timeout;
}

/**
 * Reads from archive storage classes (S3 Glacier): before a study is served, every copy to read
 * must be restored. The first read of an archived study requests the restores (one request per
 * study however many readers ask: deduplicated here, and per object by the backend), audits it,
 * and answers "not yet" with the expected time; a poller follows the restore and logs when the
 * study is readable; later reads are served as soon as every copy is ready.
 */
@Injectable()
export class RestoreCoordinator implements OnModuleDestroy {
  private readonly logger = new Logger('Restore');
  private readonly pending = new Map<string, PendingRestore>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly audit: AuditService,
  ) {}

  onModuleDestroy(): void {
    for (const p of this.pending.values()) clearInterval(p.timer);
    this.pending.clear();
  }

  /** Ready to read, or when it is expected to be (restores requested if they were not). */
  async check(
    studyUid: string,
    locations: readonly BlobLocation[],
    who: Requester,
  ): Promise<{ ready: true } | { ready: false; expectedAt: Date }> {
    const states = await Promise.all(locations.map((l) => this.blobs.restoreState(l)));
    if (states.every((s) => s === 'ready')) {
      this.settle(studyUid);
      return { ready: true };
    }
    const existing = this.pending.get(studyUid);
    let longest = 0;
    let requested = 0;
    for (const [n, state] of states.entries()) {
      if (state !== 'archived') continue;
      const { expectedSeconds } = await this.blobs.requestRestore(locations[n]!);
      longest = Math.max(longest, expectedSeconds);
      requested++;
    }
    if (existing && requested === 0) return { ready: false, expectedAt: existing.expectedAt };
    const expectedAt = new Date(
      Math.max(existing?.expectedAt.getTime() ?? 0, Date.now() + longest * 1000),
    );
    if (existing) clearInterval(existing.timer);
    const poll = Math.min(60_000, Math.max(1_000, (longest * 1000) / 10));
    const timer = setInterval(() => void this.poll(studyUid, locations), poll);
    timer.unref();
    this.pending.set(studyUid, { expectedAt, timer });
    await this.audit.recordAlone({
      actor: who.actor,
      actorHost: who.host,
      role: who.role,
      action: 'study.restore-requested',
      outcome: 'success',
      studyInstanceUid: studyUid,
      instances: requested,
      detail: { expectedAt: expectedAt.toISOString() },
    });
    this.logger.log(
      `restore of ${requested} object(s) requested; expected by ${expectedAt.toISOString()}`,
    );
    return { ready: false, expectedAt };
  }

  /**
   * For a read path: returns when every copy is readable; otherwise sets Retry-After and throws
   * the 503 problem naming the study and the expected time (restores requested as `check` does).
   */
  async requireReady(
    studyUid: string,
    locations: readonly BlobLocation[],
    who: Requester,
    res: Response,
  ): Promise<void> {
    const restore = await this.check(studyUid, locations, who);
    if (restore.ready) return;
    const seconds = Math.max(1, Math.ceil((restore.expectedAt.getTime() - Date.now()) / 1000));
    res.setHeader('Retry-After', String(seconds));
    throw problem(
      503,
      `study ${studyUid} is being restored from archive storage and is not yet ` +
        `available; expected by ${restore.expectedAt.toISOString()}`,
      { studyInstanceUid: studyUid, expectedAt: restore.expectedAt.toISOString() },
    );
  }

  private async poll(studyUid: string, locations: readonly BlobLocation[]): Promise<void> {
    try {
      const states = await Promise.all(locations.map((l) => this.blobs.restoreState(l)));
      if (states.every((s) => s === 'ready')) {
        this.logger.log(`a study restore finished: ${locations.length} object(s) readable`);
        this.settle(studyUid);
      }
    } catch (error) {
      this.logger.warn(`could not poll a restore: ${String(error)}`);
    }
  }

  private settle(studyUid: string): void {
    const p = this.pending.get(studyUid);
    if (p) clearInterval(p.timer);
    this.pending.delete(studyUid);
  }
}
