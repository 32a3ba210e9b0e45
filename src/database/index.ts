export { createDataSource } from './data-source.js';
export { Database, type Sql } from './database.js';
export { DatabaseModule } from './database.module.js';
export { startEmbeddedPostgres, type EmbeddedCluster } from './embedded-postgres.js';
export { migrate, SchemaTooNewError, schemaStatus } from './migrator.js';
export { openDatabase, type OpenedDatabase } from './open-database.js';
export { claimScheduleTick } from './schedule-ticks.js';
