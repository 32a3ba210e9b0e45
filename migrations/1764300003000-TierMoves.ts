import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Background jobs (tier moves first) and the move journal: one row per blob being moved, whose
 * step records how far the move got, so that a move killed at any step resumes at the next start
 * with nothing lost (the old copy stays until the new one is verified and recorded) and nothing
 * orphaned (the new copy's key is recorded before it is written).
 */
export class TierMoves1764300003000 implements MigrationInterface {
  name = 'TierMoves1764300003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE jobs (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        status text NOT NULL,
        params jsonb NOT NULL,
        actor text NOT NULL,
        total integer NOT NULL DEFAULT 0,
        done integer NOT NULL DEFAULT 0,
        bytes_done bigint NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      );
      CREATE INDEX jobs_unfinished ON jobs (id) WHERE status IN ('queued', 'running');

      CREATE TABLE move_journal (
        id bigserial PRIMARY KEY,
        job_fk bigint NOT NULL REFERENCES jobs(id),
        blob_fk bigint NOT NULL REFERENCES blobs(id),
        from_location_fk bigint NOT NULL,
        from_backend text NOT NULL,
        from_key text NOT NULL,
        to_backend text NOT NULL,
        to_key text NOT NULL,
        to_tier text NOT NULL,
        stored_size bigint NOT NULL,
        -- The old copies taken out of the catalog at step 'removed', deleted from their backends at 'done'.
        removed jsonb,
        step text NOT NULL,
        error text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (job_fk, blob_fk)
      );
      CREATE INDEX move_journal_unfinished ON move_journal (job_fk) WHERE step NOT IN ('done', 'failed');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE move_journal; DROP TABLE jobs;`);
  }
}
