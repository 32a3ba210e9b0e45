import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type DataSource } from 'typeorm';

/** The role the archive runs as on its embedded PostgreSQL: not the owner, not a superuser. */
export const APP_ROLE = 'strata_app';

/**
 * With the embedded PostgreSQL, migrations run as the cluster's owner (a superuser), and the
 * archive then runs as APP_ROLE, which may read and write the catalog but owns nothing: it cannot
 * disable the audit trail's append-only triggers, alter a table or truncate one, and may not
 * update or delete audit rows even with the triggers gone. Idempotent: run after every migration,
 * so tables a new migration made are granted too. Returns the role's password (kept next to the
 * cluster like the owner's, mode 0600).
 */
export async function grantAppRole(owner: DataSource, secretFile: string): Promise<string> {
  if (!existsSync(secretFile)) {
    writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  const password = readFileSync(secretFile, 'utf8').trim();
  if (!/^[0-9a-f]{48}$/.test(password))
    throw new Error(`${secretFile} is not a password this archive made`);
  await owner.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
        CREATE ROLE ${APP_ROLE} LOGIN;
      END IF;
    END $$;
    ALTER ROLE ${APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
      PASSWORD '${password}';
    GRANT CONNECT, TEMPORARY ON DATABASE strata TO ${APP_ROLE};
    GRANT USAGE ON SCHEMA public TO ${APP_ROLE};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${APP_ROLE};
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM ${APP_ROLE};
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE};
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${APP_ROLE};
  `);
  return password;
}
