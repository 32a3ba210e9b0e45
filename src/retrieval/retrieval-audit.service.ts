import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { CatalogReadService, type RetrievalFilter } from '../catalog/index.js';
import { type Requester } from './http.js';

export interface RetrievalRecord {
  who: Requester;
  filter: RetrievalFilter;
  patientId: string | null;
  /** What was served: whole instances, their metadata, or one bulk data element. */
  kind: 'instances' | 'metadata' | 'bulkdata';
  /** Instances actually sent. */
  instances: number;
  /** Instances the request covered. */
  planned: number;
  complete: boolean;
  detail?: Record<string, unknown>;
}

/**
 * After a WADO-RS response: one `study.retrieved` event (a WADO-RS request names exactly one
 * study) with the number of instances sent, and the study's last_accessed_at. Written once the
 * transfer ended, so that the outcome is known; a failure to write is logged, since the bytes
 * have already left.
 */
@Injectable()
export class RetrievalAudit implements OnApplicationShutdown {
  private readonly logger = new Logger('Retrieval');
  /** Audit writes of responses that already ended: a graceful stop waits for them (promise 5). */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly audit: AuditService,
    private readonly catalog: CatalogReadService,
  ) {}

  /** Runs after the HTTP server closed and before the database does. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  retrieved(r: RetrievalRecord): Promise<void> {
    const write = this.write(r);
    this.pending.add(write);
    write.finally(() => this.pending.delete(write)).catch(() => undefined);
    return write;
  }

  private async write(r: RetrievalRecord): Promise<void> {
    // The access time first: once the event is visible, the study reads as accessed.
    if (r.instances > 0) {
      await this.catalog
        .touchStudies([r.filter.studyInstanceUid])
        .catch((e: unknown) => this.logger.error(`could not record a study access: ${message(e)}`));
    }
    try {
      await this.audit.recordAlone({
        actor: r.who.actor,
        actorHost: r.who.host,
        role: r.who.role,
        action: 'study.retrieved',
        outcome: r.complete ? 'success' : 'failure',
        patientId: r.patientId,
        studyInstanceUid: r.filter.studyInstanceUid,
        instances: r.instances,
        detail: {
          protocol: 'WADO-RS',
          kind: r.kind,
          level: r.filter.sopInstanceUid
            ? 'instance'
            : r.filter.seriesInstanceUid
              ? 'series'
              : 'study',
          ...(r.filter.seriesInstanceUid ? { seriesInstanceUid: r.filter.seriesInstanceUid } : {}),
          ...(r.filter.sopInstanceUid ? { sopInstanceUid: r.filter.sopInstanceUid } : {}),
          ...(r.complete
            ? {}
            : { planned: r.planned, reason: 'the transfer ended before it was complete' }),
          ...r.detail,
        },
      });
    } catch (error) {
      this.logger.error(`could not audit a retrieval: ${message(error)}`);
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
