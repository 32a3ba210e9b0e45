import { type StrataConfig } from '../config/index.js';
import { createDataSource } from './data-source.js';
import { Database } from './database.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { migrate } from './migrator.js';

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
export async function openDatabase(config: StrataConfig, logger: Logger): Promise<OpenedDatabase> {
  const embedded = config.database.url
    ? null
    : await startEmbeddedPostgres(config.database.embeddedDir, logger);
  const url = config.database.url ?? embedded!.url;
  const ds = createDataSource(url);
  try {
    await ds.initialize();
    const migrationsRun = await migrate(ds);
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
