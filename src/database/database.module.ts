import { type DynamicModule, Global, Module } from '@nestjs/common';
import { Registry } from '../metrics/index.js';
import { Database } from './database.js';
import { PoolMetrics } from './pool-metrics.js';

/** Provides the Database that main.ts (or a test) opened and migrated before Nest starts. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(database: Database): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: Database, useValue: database },
        {
          provide: PoolMetrics,
          inject: [{ token: Registry, optional: true }],
          useFactory: (registry?: Registry) =>
            registry ? new PoolMetrics(registry, database) : null,
        },
      ],
      exports: [Database],
    };
  }
}
