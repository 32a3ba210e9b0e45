import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createDataSource, migrate } from '../../src/database/index.js';
import { createTestDatabase } from '../support/test-database.js';

/** Every migration can be reverted and applied again (an upgrade can be rolled back). */
describe('migrations', () => {
  let ds: ReturnType<typeof createDataSource>;
  beforeAll(async () => {
    ds = createDataSource(await createTestDatabase(), 2);
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
  });

  it('go down one by one to an empty schema, and up again', async () => {
    expect(await migrate(ds)).toHaveLength(migrations.length);
    for (let n = 0; n < migrations.length; n++) await ds.undoLastMigration({ transaction: 'each' });
    const [{ n: tables }] = (await ds.query(
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'`,
    )) as [{ n: number }];
    expect(tables).toBe(0);
    expect(await migrate(ds)).toHaveLength(migrations.length);
    const [{ n: functions }] = (await ds.query(
      `SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'strata_record_instance'`,
    )) as [{ n: number }];
    expect(functions).toBe(1);
  });
});
