import { type DynamicModule, Global, Module } from '@nestjs/common';
import { Database } from './database.js';

/** Provides the Database that main.ts (or a test) opened and migrated before Nest starts. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(database: Database): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [{ provide: Database, useValue: database }],
      exports: [Database],
    };
  }
}
