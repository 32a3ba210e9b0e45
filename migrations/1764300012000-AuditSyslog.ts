import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The syslog spool. audit_events is append-only and its seq grows in commit order
 * (strata_audit_append numbers each row under the chain lock, which is held until commit: a row
 * with a higher seq is never visible before a lower one), so the durable spool of a syslog
 * destination is one number: the last seq the collector confirmed. The sender reads the rows
 * after it, sends them, and moves it on only once the collector has them.
 */
export class AuditSyslog1764300012000 implements MigrationInterface {
  name = 'AuditSyslog1764300012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_syslog_cursors (
        -- 'tls://host:port' or 'tcp://host:port': another collector starts from the beginning.
        destination text PRIMARY KEY,
        delivered_seq bigint NOT NULL DEFAULT 0,
        delivered_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE audit_syslog_cursors');
  }
}
