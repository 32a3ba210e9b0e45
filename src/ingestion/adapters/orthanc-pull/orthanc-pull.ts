import { type Database } from '../../../database/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { type IngestionService } from '../../ingestion.service.js';
import { PullCheckpointRepository } from '../pull/pull-checkpoint.repository.js';
import {
  countIngest,
  emptyPullResult,
  isTransientRefusal,
  type PullResult,
} from '../pull/pull-result.js';
import { OrthancRest } from './orthanc-rest.js';

export const ORTHANC_PULL = 'orthanc-pull';

export interface OrthancPullSource {
  /** The source name instances are recorded under. */
  name: string;
  url: string;
  username?: string;
  password?: string;
}

interface Cursor {
  /** The last change sequence number whose instances are all in the archive. */
  seq: number;
}

/** Changes read per request (Orthanc's own maximum is 10,000). */
const CHANGES_PER_REQUEST = 100;

/**
 * The orthanc-pull adapter: Orthanc's change feed, incremental from the last sequence number it
 * handled. Every NewInstance change's file goes through the one ingestion pipeline (source = the
 * configured name); the cursor is saved after each page of changes, so a run stopped by a crash
 * or by Orthanc going away goes on from the last whole page (instances of a page seen again are
 * duplicates: stored once). A run ends when the feed says it is done.
 */
export class OrthancPuller {
  private readonly checkpoints = new PullCheckpointRepository();

  constructor(
    private readonly db: Database,
    private readonly ingestion: IngestionService,
    /** Sees every pipeline result (the adapter's counters). */
    private readonly observe?: (source: string, outcome: IngestResult) => void,
  ) {}

  async pull(
    source: OrthancPullSource,
    onProgress?: (r: PullResult) => void,
    signal?: AbortSignal,
  ): Promise<PullResult> {
    const rest = new OrthancRest(
      source.url.replace(/\/+$/, ''),
      source.username ? { username: source.username, password: source.password ?? '' } : null,
    );
    const cursor = (await this.checkpoints.get<Cursor>(this.db, source.name)) ?? { seq: 0 };
    const result = emptyPullResult(source.name, ORTHANC_PULL, cursor);
    try {
      for (;;) {
        if (signal?.aborted) {
          result.error = 'stopped';
          break;
        }
        const page = await rest.changes(cursor.seq, CHANGES_PER_REQUEST);
        for (const change of page.changes) {
          // Stopped mid-page: the page is not checkpointed, its first instances come again as
          // duplicates next time.
          if (signal?.aborted) break;
          if (change.changeType !== 'NewInstance' || change.resourceType !== 'Instance') continue;
          const file = await rest.instanceFile(change.id);
          let bytes = 0;
          file.data.on('data', (chunk: Buffer) => (bytes += chunk.length));
          const outcome = await this.ingestion.ingest({
            adapter: ORTHANC_PULL,
            source: source.name,
            actor: `${ORTHANC_PULL}:${source.name}`,
            callingAet: null,
            remoteHost: new URL(source.url).host,
            framing: 'part10',
            data: file.data,
          });
          if (isTransientRefusal(outcome)) {
            throw new Error(
              `instance ${change.id} could not be stored now: ${outcome.ok ? '' : outcome.message}`,
            );
          }
          countIngest(result, outcome, bytes);
          this.observe?.(source.name, outcome);
          onProgress?.(result);
        }
        if (signal?.aborted) {
          result.error = 'stopped';
          break;
        }
        cursor.seq = page.last;
        await this.checkpoints.save(this.db, source.name, ORTHANC_PULL, cursor);
        result.cursor = { ...cursor };
        if (page.done || page.changes.length === 0) break;
      }
    } catch (error) {
      result.error = error instanceof Error ? error.message : String(error);
    }
    return result;
  }
}
