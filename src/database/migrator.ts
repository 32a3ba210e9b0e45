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
