import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { type SourceConfig } from '../../../config/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { PullAdapter } from '../pull/pull-adapter.js';
import { type PullResult } from '../pull/pull-result.js';
import { DICOMWEB_PULL, DicomwebPuller } from './dicomweb-pull.js';

/**
 * A dicomweb-pull source's keys: the server's DICOMweb root, the QIDO-RS study query keys that
 * select what to pull (e.g. StudyDate: 20200101-20201231, ModalitiesInStudy: CT), and an
 * Authorization header value if the server asks for one.
 */
const optionsSchema = z
  .object({
    url: z.url(),
    query: z.record(z.string().regex(/^[A-Za-z0-9]{1,64}$/), z.string()).optional(),
    authorization: z.string().min(1).optional(),
  })
  .strict();

/** The dicomweb-pull adapter (kind 'pull'): QIDO-RS + WADO-RS by study, on the source's schedule. */
@Injectable()
export class DicomwebPullAdapter extends PullAdapter {
  readonly id = DICOMWEB_PULL;
  readonly capabilities = ['qido-rs', 'wado-rs', 'checkpoint'] as const;
  protected readonly optionsSchema = optionsSchema;

  protected pullOnce(
    source: SourceConfig,
    observe: (source: string, outcome: IngestResult) => void,
    signal: AbortSignal,
    onProgress?: (r: PullResult) => void,
  ): Promise<PullResult> {
    const o = source.options as z.infer<typeof optionsSchema>;
    return new DicomwebPuller(this.db, this.ingestion, observe).pull(
      { name: source.name, url: o.url, query: o.query, authorization: o.authorization },
      onProgress,
      signal,
    );
  }
}
