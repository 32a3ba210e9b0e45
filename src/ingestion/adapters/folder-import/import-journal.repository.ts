import { type Sql } from '../../../database/index.js';
import { type ImportFileResult, type ImportOutcome } from './import-result.js';

export interface ImportRun {
  id: string;
  /** An unfinished run of the same target and source was taken up again. */
  resumed: boolean;
}

interface FileRow {
  path: string;
  bytes: string;
  outcome: ImportOutcome;
  reason: string | null;
  message: string | null;
  sop_instance_uid: string | null;
}

/** The import journal (import_runs, import_files): what each run has done so far. */
export class ImportJournalRepository {
  /** The unfinished run of this target (what was asked for) and source, or a new one. */
  async open(db: Sql, target: string, source: string, actor: string): Promise<ImportRun> {
    const [open] = await db.query<{ id: string }>(
      `SELECT id FROM import_runs WHERE target = $1 AND source = $2 AND finished_at IS NULL
        ORDER BY id DESC LIMIT 1`,
      [target, source],
    );
    if (open) return { id: open.id, resumed: true };
    const [made] = await db.query<{ id: string }>(
      'INSERT INTO import_runs (target, source, actor) VALUES ($1, $2, $3) RETURNING id',
      [target, source, actor],
    );
    return { id: made!.id, resumed: false };
  }

  /** Paths already done in the run. */
  async donePaths(db: Sql, run: string): Promise<Set<string>> {
    const rows = await db.query<{ path: string }>(
      'SELECT path FROM import_files WHERE run_fk = $1',
      [run],
    );
    return new Set(rows.map((r) => r.path));
  }

  /** Journals one file; a file journaled before (a resumed run re-planning it) keeps its row. */
  async record(db: Sql, run: string, r: ImportFileResult): Promise<void> {
    await db.query(
      `INSERT INTO import_files (run_fk, path, bytes, outcome, reason, message, sop_instance_uid)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_fk, path) DO NOTHING`,
      [run, r.path, r.bytes, r.outcome, r.reason, r.message, r.sopInstanceUid],
    );
  }

  async finish(db: Sql, run: string): Promise<void> {
    await db.query('UPDATE import_runs SET finished_at = clock_timestamp() WHERE id = $1', [run]);
  }

  async results(db: Sql, run: string): Promise<ImportFileResult[]> {
    const rows = await db.query<FileRow>(
      `SELECT path, bytes, outcome, reason, message, sop_instance_uid FROM import_files
        WHERE run_fk = $1 ORDER BY path`,
      [run],
    );
    return rows.map((r) => ({
      path: r.path,
      bytes: Number(r.bytes),
      outcome: r.outcome,
      reason: r.reason,
      message: r.message,
      sopInstanceUid: r.sop_instance_uid,
    }));
  }
}
