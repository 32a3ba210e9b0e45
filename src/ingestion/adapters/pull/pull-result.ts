import { type IngestResult } from '../../ingest-request.js';

/** What one pull run did, in figures (a job's result, the CLI's summary). */
export interface PullResult {
  source: string;
  adapter: string;
  fetched: number;
  stored: number;
  duplicates: number;
  newVersions: number;
  refused: number;
  bytes: number;
  /** Refusals by reason. */
  refusedBy: Record<string, number>;
  /** The checkpoint after the run. */
  cursor: unknown;
  /** Why the run stopped before the source was drained, if it did. */
  error: string | null;
}

export function emptyPullResult(source: string, adapter: string, cursor: unknown): PullResult {
  return {
    source,
    adapter,
    fetched: 0,
    stored: 0,
    duplicates: 0,
    newVersions: 0,
    refused: 0,
    bytes: 0,
    refusedBy: {},
    cursor,
    error: null,
  };
}

/** Counts one ingest outcome into a pull's figures. */
export function countIngest(r: PullResult, outcome: IngestResult, bytes: number): void {
  r.fetched++;
  r.bytes += bytes;
  if (!outcome.ok) {
    r.refused++;
    r.refusedBy[outcome.reason] = (r.refusedBy[outcome.reason] ?? 0) + 1;
  } else if (outcome.outcome === 'duplicate') r.duplicates++;
  else if (outcome.outcome === 'new-version') r.newVersions++;
  else r.stored++;
}

/**
 * Refusals that say nothing about the instance (the archive could not store it now, the transfer
 * broke): a pull stops there and goes on from its checkpoint next time, instead of skipping it.
 */
export function isTransientRefusal(outcome: IngestResult): boolean {
  return !outcome.ok && (outcome.reason === 'storage-failure' || outcome.reason === 'aborted');
}
