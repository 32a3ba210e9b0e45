import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * API tokens become expiring, revocable and scoped (issue 6): a role from a fixed list, the source
 * a pacs token is bound to (and only a pacs token), who created and who revoked it. A revoked
 * token's name can be given to a new token (a rotated PACS credential keeps its name, which is
 * what the audit trail and stow-push sources go by); two live tokens never share one.
 */
export class AccessControl1764300013000 implements MigrationInterface {
  name = 'AccessControl1764300013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE api_tokens
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN revoked_at timestamptz,
        ADD COLUMN revoked_by text,
        ADD COLUMN created_by text,
        ADD COLUMN source text,
        -- When the token's current session began: its successful authentication is audited once
        -- per session (first use, first use after an idle time, and at least daily), not per request.
        ADD COLUMN session_started_at timestamptz,
        ADD CONSTRAINT api_tokens_role CHECK (role IN ('admin', 'archivist', 'auditor', 'pacs')),
        -- A pacs token sees only its source's instances: without one it would have to see nothing
        -- or everything, so it cannot exist; other roles are not limited by source.
        ADD CONSTRAINT api_tokens_pacs_source CHECK ((role = 'pacs') = (source IS NOT NULL));
      ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_name_key;
      CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DELETE FROM api_tokens WHERE revoked_at IS NOT NULL;
      DROP INDEX api_tokens_live_name;
      ALTER TABLE api_tokens
        ADD CONSTRAINT api_tokens_name_key UNIQUE (name),
        DROP CONSTRAINT api_tokens_pacs_source,
        DROP CONSTRAINT api_tokens_role,
        DROP COLUMN session_started_at,
        DROP COLUMN source,
        DROP COLUMN created_by,
        DROP COLUMN revoked_by,
        DROP COLUMN revoked_at,
        DROP COLUMN expires_at;
    `);
  }
}
