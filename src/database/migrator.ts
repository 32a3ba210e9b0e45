import { type DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.js';

/** Arbitrary constant: the advisory lock every Strata process takes while migrating. */
const MIGRATION_LOCK = 7_357_001;

export class SchemaTooNewError extends Error {}

/**
 * Runs pending migrations under a PostgreSQL advisory lock, so that several nodes starting at once
 * migrate exactly once, and refuses a database whose schema has migrations this build does not know
 * (a newer Strata ran against it): running old code on a new schema risks corrupting it.
 */
export async function migrate(ds: DataSource): Promise<string[]> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const table = await runner.query(`SELECT to_regclass('public.migrations') AS t`);
    if (table[0]?.t) {
      const applied: { name: string }[] = await runner.query('SELECT name FROM migrations');
      const known = new Set(migrations.map((m) => m.name));
      const unknown = applied.map((r) => r.name).filter((n) => !known.has(n));
      if (unknown.length > 0) {
        throw new SchemaTooNewError(
          `the database schema is newer than this Strata build knows (unknown migrations: ${unknown.join(', ')}); upgrade Strata`,
        );
      }
    }
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/**
 * Whether the schema is the one this build knows (readiness): every migration it has applied,
 * none it does not know. A node that another, newer node's upgrade overtook is not ready.
 */
export async function schemaStatus(db: {
  query<T>(sql: string): Promise<T[]>;
}): Promise<{ ok: boolean; detail: string }> {
  const applied = new Set(
    (await db.query<{ name: string }>('SELECT name FROM migrations')).map((r) => r.name),
  );
  const known = migrations.map((m) => m.name);
  const missing = known.filter((n) => !applied.has(n));
  const unknown = [...applied].filter((n) => !known.includes(n));
  if (unknown.length > 0)
    return {
      ok: false,
      detail: `schema newer than this build (${unknown.length} unknown migrations)`,
    };
  if (missing.length > 0) return { ok: false, detail: `${missing.length} migrations not applied` };
  return { ok: true, detail: `${known.length} migrations applied` };
}
