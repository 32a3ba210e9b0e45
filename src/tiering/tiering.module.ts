import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { Database } from '../database/index.js';
import { Registry } from '../metrics/index.js';
import { StorageModule } from '../storage/index.js';
import { FixityService } from './fixity.service.js';
import { JobMetrics } from './job-metrics.js';
import { TierMetrics } from './tier-metrics.js';
import { TieringController } from './tiering.controller.js';
import { JobLeases } from './job-leases.service.js';
import { TIERING_OPTIONS, TierMover, type TieringOptions } from './tier-mover.service.js';

@Module({})
export class TieringModule {
  /** The server resumes interrupted moves at start; a CLI command runs only the job it was asked. */
  static forRoot(options: TieringOptions): DynamicModule {
    return {
      module: TieringModule,
      imports: [StorageModule, AuditModule],
      providers: [
        { provide: TIERING_OPTIONS, useValue: options },
        JobLeases,
        TierMover,
        FixityService,
        // Scrape-time gauges: what each tier holds, the job queue (none without a registry).
        {
          provide: TierMetrics,
          inject: [Database, { token: Registry, optional: true }],
          useFactory: (db: Database, registry?: Registry) =>
            registry ? new TierMetrics(registry, db) : null,
        },
        {
          provide: JobMetrics,
          inject: [Database, { token: Registry, optional: true }],
          useFactory: (db: Database, registry?: Registry) =>
            registry ? new JobMetrics(registry, db) : null,
        },
      ],
      controllers: options.http ? [TieringController] : [],
      exports: [JobLeases, TierMover, FixityService],
    };
  }
}
