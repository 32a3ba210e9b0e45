import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Several nodes on one database (issue 7):
 *
 * - jobs.claimed_by / lease_until: a job (tier move, lifecycle sweep, key re-wrap) runs on the node
 *   that holds its lease, which renews it while it works. A node that dies stops renewing, and
 *   once lease_until has passed another node claims the job (FOR UPDATE SKIP LOCKED) and resumes
 *   it from its journal or checkpoint. NULL claimed_by: free for any node (a job released at a
 *   graceful stop, or unfinished from before this migration). lease_until 'infinity': parked by
 *   its holder (a sweep stopped outside its window), resumed by the next tick of its schedule.
 * - shared_secret_checks: a check value (an HMAC of a fixed text) of secrets every node must share,
 *   the dedup secret first: a node whose <data dir>/keys/dedup.secret differs from the one the
 *   catalog's digests were made with refuses to start, instead of storing duplicates and failing
 *   every verification of a copy another node made.
 */
export class JobLeases1764300016000 implements MigrationInterface {
  name = 'JobLeases1764300016000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN claimed_by text,
        ADD COLUMN lease_until timestamptz;
      CREATE INDEX jobs_claimable ON jobs (kind, id) WHERE status IN ('queued', 'running');

      CREATE TABLE shared_secret_checks (
        name text PRIMARY KEY,
        check_value bytea NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE shared_secret_checks;
      DROP INDEX jobs_claimable;
      ALTER TABLE jobs DROP COLUMN claimed_by, DROP COLUMN lease_until;
    `);
  }
}
