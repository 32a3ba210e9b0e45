import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { ConfigError, parseTimeWindow, type SourceConfig } from '../../../config/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { PullAdapter } from '../pull/pull-adapter.js';
import { type PullResult } from '../pull/pull-result.js';
import { DIMSE_PULL, type DimsePullSource, DimsePuller } from './dimse-pull.js';
import { STUDY_QUERY_KEYS } from './study-query.js';

const AE_TITLE = z
  .string()
  .regex(/^(?=.*[^ ])[ -[\]-~]{1,16}$/, 'an AE title: 1-16 printable characters, no backslash');

/**
 * A dimse-pull source's keys (its `peer` is the PACS): how to retrieve (C-MOVE to this archive,
 * or C-GET), what (study-level C-FIND keys, e.g. StudyDate: 20150101-20151231, ModalitiesInStudy:
 * CT; or a list of accession numbers), and how gently (associations at once, instances/s, a
 * window of hours).
 */
const optionsSchema = z
  .object({
    retrieve: z.enum(['move', 'get']).optional(),
    query: z
      .record(z.string(), z.string().max(64))
      .superRefine((q, ctx) => {
        for (const key of Object.keys(q)) {
          if (!(key in STUDY_QUERY_KEYS)) {
            ctx.addIssue({
              code: 'custom',
              message: `'${key}' is not a study query key (${Object.keys(STUDY_QUERY_KEYS).join(', ')})`,
            });
          }
        }
      })
      .optional(),
    accessionNumbers: z.array(z.string().min(1).max(16)).min(1).optional(),
    associations: z.number().int().min(1).max(8).optional(),
    instancesPerSecond: z.number().positive().optional(),
    window: z.string().optional(),
    moveDestination: AE_TITLE.optional(),
    callingAet: AE_TITLE.optional(),
    responseTimeoutSeconds: z.number().int().min(1).max(3600).optional(),
  })
  .strict();

type Options = z.infer<typeof optionsSchema>;

/** The dimse-pull adapter (kind 'pull'): C-FIND + C-MOVE or C-GET against a PACS, by study. */
@Injectable()
export class DimsePullAdapter extends PullAdapter {
  readonly id = DIMSE_PULL;
  readonly capabilities = [
    'c-find-scu',
    'c-move-scu',
    'c-get-scu',
    'checkpoint',
    'throttle',
  ] as const;
  protected readonly optionsSchema = optionsSchema;

  override checkSource(source: SourceConfig): string[] {
    const problems = super.checkSource(source);
    if (!source.peer)
      problems.push('peer: a dimse-pull source names the PACS it pulls from (dicom.peers)');
    const window = (source.options as Options).window;
    try {
      parseTimeWindow(`sources.${source.name}.window`, window);
    } catch (e) {
      problems.push(
        `window: ${e instanceof ConfigError ? `'${window}' is not a window such as '22:00-06:00'` : String(e)}`,
      );
    }
    return problems;
  }

  /** What a run of a configured dimse-pull source works with. */
  settings(source: SourceConfig): DimsePullSource {
    const o = source.options as Options;
    const peer = this.config.dicom.peers[source.peer ?? ''];
    if (!peer) throw new Error(`${source.name}: no peer`); // checkSource refused it at start
    return {
      name: source.name,
      peer: {
        aet: peer.aeTitle,
        host: peer.host,
        port: peer.port,
        ...(peer.tls ? { tls: peer.tls } : {}),
      },
      callingAet: o.callingAet ?? this.config.dicom.aeTitle,
      moveDestination: o.moveDestination ?? this.config.dicom.aeTitle,
      retrieve: o.retrieve ?? 'move',
      query: o.query,
      accessionNumbers: o.accessionNumbers,
      associations: o.associations ?? 1,
      instancesPerSecond: o.instancesPerSecond ?? null,
      window: parseTimeWindow(`sources.${source.name}.window`, o.window),
      responseTimeoutMs: (o.responseTimeoutSeconds ?? 300) * 1000,
    };
  }

  protected pullOnce(
    source: SourceConfig,
    _observe: (source: string, outcome: IngestResult) => void,
    signal: AbortSignal,
    onProgress?: (r: PullResult) => void,
  ): Promise<PullResult> {
    return new DimsePuller(this.db, this.ingestion, (name, outcome, bytes) =>
      this.activity.tally(name, outcome, bytes),
    ).pull(this.settings(source), onProgress, signal);
  }
}
