import { DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.js';

/** The one DataSource shape the app, the CLI and the tests share. Never `synchronize`. */
export function createDataSource(url: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: [],
    migrations,
    migrationsTableName: 'migrations',
    migrationsRun: false,
    synchronize: false,
    logging: false,
    extra: { max: poolSize, application_name: 'strata' },
  });
}
