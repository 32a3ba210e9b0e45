import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditRepository } from '../../src/audit/audit.repository.js';
import { loadConfig } from '../../src/config/index.js';
import { openDatabase, type OpenedDatabase } from '../../src/database/index.js';

const quiet = { log: () => undefined, warn: () => undefined };

/**
 * With the embedded PostgreSQL (`npm start` with no DATABASE_URL), migrations run as the cluster's
 * owner and the archive then runs as strata_app, which owns nothing: it writes the catalog and
 * appends audit rows, but cannot turn the audit trail's append-only triggers off, nor update or
 * delete audit rows.
 */
describe('the embedded database: the archive runs as a role that cannot disable the audit triggers', () => {
  let dir: string;
  let opened: OpenedDatabase;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-embedded-role-'));
    // As root, the cluster runs as 'postgres', which must traverse the folders above it.
    chmodSync(dir, 0o755);
    const config = loadConfig({
      STRATA_DATA_DIR: join(dir, 'data'),
      STRATA_POLICIES_DIR: join(process.cwd(), 'policies'),
    });
    opened = await openDatabase(config, quiet);
  }, 120_000);
  afterAll(async () => {
    await opened?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects as strata_app, not a superuser, and appends audit rows', async () => {
    const db = opened.database;
    const [who] = await db.query<{ user: string; superuser: string }>(
      `SELECT current_user AS user, current_setting('is_superuser') AS superuser`,
    );
    expect(who).toEqual({ user: 'strata_app', superuser: 'off' });
    const count = async () =>
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events'))[0]!.n;
    const before = await count();
    await new AuditRepository().append(db, {
      actor: 'test',
      action: 'test.event',
      outcome: 'success',
    });
    expect(await count()).toBe(before + 1);
  });

  it.each([
    ['disable the triggers', 'ALTER TABLE audit_events DISABLE TRIGGER ALL'],
    ['bypass them by replication role', "SET session_replication_role = 'replica'"],
    ['update an audit row', "UPDATE audit_events SET actor = 'someone else'"],
    ['delete audit rows', 'DELETE FROM audit_events'],
    ['truncate the trail', 'TRUNCATE audit_events'],
    ['drop the trail', 'DROP TABLE audit_events'],
  ])('may not %s', async (_what, sql) => {
    await expect(opened.database.query(sql)).rejects.toThrow(/permission denied|must be owner/);
  });
});
