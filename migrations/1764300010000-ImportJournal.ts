import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The journal of `strata import`: one row per run (a folder, zip or medium imported under a
 * source) and one per file done, with its outcome, so that an interrupted run goes on where it
 * stopped (files already journaled are not read again) and its summary covers the whole run.
 */
export class ImportJournal1764300010000 implements MigrationInterface {
  name = 'ImportJournal1764300010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE import_runs (
        id bigserial PRIMARY KEY,
        -- What was imported: a folder, zip, DICOMDIR or file (absolute, on the machine that ran it).
        target text NOT NULL,
        source text NOT NULL,
        actor text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        -- Null while the run is unfinished: the next import of the same target and source resumes it.
        finished_at timestamptz
      );
      CREATE INDEX import_runs_unfinished ON import_runs (target, source) WHERE finished_at IS NULL;
      CREATE TABLE import_files (
        run_fk bigint NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
        -- Relative to the target's folder, '/'-separated; a zip entry as 'a.zip!dir/file'.
        path text NOT NULL,
        bytes bigint NOT NULL,
        -- 'stored', 'new-version', 'duplicate', 'kept-first' or 'refused' (then reason, message).
        outcome text NOT NULL,
        reason text,
        message text,
        sop_instance_uid text,
        done_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_fk, path)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE import_files;
      DROP TABLE import_runs;
    `);
  }
}
