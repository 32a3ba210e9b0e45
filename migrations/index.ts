import { InitialCatalog1764300000000 } from './1764300000000-InitialCatalog.js';

/** Every migration, in order. TypeORM with ESM needs the classes listed (no globs). */
export const migrations = [InitialCatalog1764300000000];
