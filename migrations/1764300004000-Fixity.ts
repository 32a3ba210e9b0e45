import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Fixity checks: a job's outcome in figures (checked, missing, corrupt, repaired...), and a lease
 * per scheduled task so that one node runs each scheduled check however many are up.
 */
export class Fixity1764300004000 implements MigrationInterface {
  name = 'Fixity1764300004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs ADD COLUMN result jsonb;
      CREATE INDEX locations_unverified ON locations (verified_at NULLS FIRST, id);
      CREATE TABLE schedule_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        until timestamptz NOT NULL
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE schedule_leases;
      DROP INDEX locations_unverified;
      ALTER TABLE jobs DROP COLUMN result;
    `);
  }
}
