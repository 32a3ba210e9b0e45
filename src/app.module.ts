import { type DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './admin/index.js';
import { AuditSyslogModule, AuditTrailModule } from './audit/index.js';
import { ConfigModule, type StrataConfig } from './config/index.js';
import { type Database, DatabaseModule } from './database/index.js';
import { DimseModule } from './dimse/index.js';
import { AdaptersModule, IngestionModule } from './ingestion/index.js';
import { KeysModule } from './keys/index.js';
import { LifecycleModule } from './lifecycle/index.js';
import { MetricsModule } from './metrics/index.js';
import { RetrievalModule } from './retrieval/index.js';
import { StorageModule } from './storage/index.js';
import { TieringModule } from './tiering/index.js';

/** The modular monolith: one module per context (ARCHITECTURE.md), wired here and nowhere else. */
@Module({})
export class AppModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    const tiering = TieringModule.forRoot({ resumeJobs: true, http: true });
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        MetricsModule,
        DimseModule,
        IngestionModule,
        // The ingestion adapters (DIMSE, STOW-RS, folder import), their registry and /api/sources.
        AdaptersModule,
        RetrievalModule,
        tiering,
        KeysModule.forRoot({ resumeJobs: true, http: true }, tiering),
        LifecycleModule.forRoot({ resumeJobs: true, schedule: true, http: true }, tiering),
        // Signed checkpoints of the audit chain (with the archive key, from storage), verify, export.
        AuditTrailModule.forRoot({ schedule: true, signer: StorageModule }),
        // The trail sent to a syslog collector (audit.syslog), from a spool in PostgreSQL.
        AuditSyslogModule,
        AdminModule,
      ],
    };
  }
}
