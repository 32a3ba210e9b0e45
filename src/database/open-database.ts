import { type StrataConfig } from '../config/index.js';
import { createDataSource } from './data-source.js';
import { Database } from './database.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { migrate } from './migrator.js';
import { APP_ROLE, grantAppRole } from './app-role.js';
import { dirname, join } from 'node:path';

export interface OpenedDatabase {
  database: Database;
  /** 'external' or the embedded cluster's directory, for the start log. */
  where: string;
  migrationsRun: string[];
  close(): Promise<void>;
}

interface Logger {
  log(message: string): void;
  warn(message: string): void;
}

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL under the data dir, then migrates.
 * Shared by the server, the CLI and the tests so all three see the same schema.
 */
export async function openDatabase(
  config: StrataConfig,
  logger: Logger,
  /** owner: stay connected as the embedded cluster's owner (benchmarks that VACUUM or TRUNCATE). */
  options: { owner?: boolean } = {},
): Promise<OpenedDatabase> {
  const embedded = config.database.url
    ? null
    : await startEmbeddedPostgres(config.database.embeddedDir, logger);
  const url = config.database.url ?? embedded!.url;
  let ds = createDataSource(url);
  try {
    await ds.initialize();
    const migrationsRun = await migrate(ds);
    if (embedded && !options.owner) {
      // The archive itself runs as a role that owns nothing (see grantAppRole).
      const password = await grantAppRole(
        ds,
        join(dirname(config.database.embeddedDir), 'pg.app-secret'),
      );
      await ds.destroy();
      const app = new URL(url);
      app.username = APP_ROLE;
      app.password = password;
      ds = createDataSource(app.toString());
      await ds.initialize();
    }
    return {
      database: new Database(ds),
      where: embedded ? `embedded PostgreSQL in ${config.database.embeddedDir}` : 'DATABASE_URL',
      migrationsRun,
      close: async () => {
        if (ds.isInitialized) await ds.destroy();
        await embedded?.stop();
      },
    };
  } catch (error) {
    if (ds.isInitialized) await ds.destroy().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
}
