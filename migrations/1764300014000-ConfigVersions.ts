import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The configurations the archive has run with: one row per distinct configuration (its digest,
 * secrets included only as digests), so that a node starting with a configuration not seen
 * before records it and audits the change, with the sections that differ from the last one.
 */
export class ConfigVersions1764300014000 implements MigrationInterface {
  name = 'ConfigVersions1764300014000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE config_versions (
        version text PRIMARY KEY,
        -- The configuration without its secrets (each replaced by a digest of it).
        config jsonb NOT NULL,
        first_seen_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE config_versions');
  }
}
