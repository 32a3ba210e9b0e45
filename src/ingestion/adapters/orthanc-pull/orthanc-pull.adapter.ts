import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { type SourceConfig } from '../../../config/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { PullAdapter } from '../pull/pull-adapter.js';
import { type PullResult } from '../pull/pull-result.js';
import { ORTHANC_PULL, OrthancPuller } from './orthanc-pull.js';

/** An orthanc-pull source's keys: the Orthanc's REST root and, if it asks, its credentials. */
const optionsSchema = z
  .object({
    url: z.url(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
  })
  .strict();

/** The orthanc-pull adapter (kind 'pull'): Orthanc's change feed, on the source's schedule. */
@Injectable()
export class OrthancPullAdapter extends PullAdapter {
  readonly id = ORTHANC_PULL;
  readonly capabilities = ['orthanc-changes', 'incremental', 'checkpoint'] as const;
  protected readonly optionsSchema = optionsSchema;

  protected pullOnce(
    source: SourceConfig,
    observe: (source: string, outcome: IngestResult) => void,
    signal: AbortSignal,
    onProgress?: (r: PullResult) => void,
  ): Promise<PullResult> {
    const o = source.options as z.infer<typeof optionsSchema>;
    return new OrthancPuller(this.db, this.ingestion, observe).pull(
      { name: source.name, url: o.url, username: o.username, password: o.password },
      onProgress,
      signal,
    );
  }
}
