/** What became of one file (or zip entry) of an import. */
export type ImportOutcome = 'stored' | 'new-version' | 'duplicate' | 'kept-first' | 'refused';

export interface ImportFileResult {
  /** Relative to the import's folder, '/'-separated; a zip entry as 'a.zip!dir/file'. */
  path: string;
  bytes: number;
  outcome: ImportOutcome;
  /** When refused: the pipeline's reason ('not-part10', 'truncated'...) or the import's own. */
  reason: string | null;
  message: string | null;
  sopInstanceUid: string | null;
}

/** A file an import left alone on purpose (a DICOMDIR, a hidden file...). */
export interface SkippedFile {
  path: string;
  reason: string;
}

/** The summary of a whole import run (every file journaled in it, across resumptions). */
export interface ImportSummary {
  run: string;
  /** What was imported (paths below are relative to it, or to its folder when it is a file). */
  target: string;
  source: string;
  /** This invocation went on with an interrupted run. */
  resumed: boolean;
  /** Some files met an archive error (not journaled): the same import again retries them. */
  unfinished: boolean;
  files: number;
  stored: number;
  newVersions: number;
  duplicates: number;
  keptFirst: number;
  refusedCount: number;
  /** Dataset bytes of the files accepted. */
  bytes: number;
  refused: { path: string; reason: string; message: string }[];
  skipped: SkippedFile[];
}

/** Adds up the journal of a run. */
export function summarize(
  run: { id: string; target: string; source: string; resumed: boolean },
  results: readonly ImportFileResult[],
  skipped: readonly SkippedFile[],
): ImportSummary {
  const count = (o: ImportOutcome) => results.filter((r) => r.outcome === o).length;
  const refused = results
    .filter((r) => r.outcome === 'refused')
    .map((r) => ({ path: r.path, reason: r.reason ?? 'unknown', message: r.message ?? '' }));
  return {
    run: run.id,
    target: run.target,
    source: run.source,
    resumed: run.resumed,
    unfinished: false,
    files: results.length,
    stored: count('stored'),
    newVersions: count('new-version'),
    duplicates: count('duplicate'),
    keptFirst: count('kept-first'),
    refusedCount: refused.length,
    bytes: results.reduce((n, r) => n + (r.outcome === 'refused' ? 0 : r.bytes), 0),
    refused,
    skipped: [...skipped],
  };
}
