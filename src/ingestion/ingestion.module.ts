import { Module } from '@nestjs/common';
import { AuditModule, AuditService } from '../audit/index.js';
import { CatalogModule } from '../catalog/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Registry } from '../metrics/index.js';
import { StorageModule } from '../storage/index.js';
import { StorageCommitmentService } from './commitment/storage-commitment.service.js';
import { InFlightBudget } from './in-flight-budget.js';
import { IngestMetrics } from './ingest-metrics.js';
import { IngestionService } from './ingestion.service.js';
import { OverloadRefusals } from './overload-refusals.js';
import { ReceivedDigestRepository } from './received-digest.repository.js';
import { LedgerController } from './ledger/ledger.controller.js';

@Module({
  imports: [StorageModule, CatalogModule, AuditModule],
  providers: [
    IngestionService,
    StorageCommitmentService,
    ReceivedDigestRepository,
    // One budget and one refusal report per process, shared by every adapter (limits.*).
    {
      provide: InFlightBudget,
      inject: [STRATA_CONFIG],
      useFactory: (config: StrataConfig) => new InFlightBudget(config.limits.maxInFlightBytes),
    },
    {
      provide: IngestMetrics,
      // The CLI's import runs without the metrics registry.
      inject: [STRATA_CONFIG, { token: Registry, optional: true }],
      useFactory: (config: StrataConfig, registry?: Registry) =>
        new IngestMetrics(config, registry ?? null),
    },
    {
      provide: OverloadRefusals,
      // The CLI's import runs without the metrics registry.
      inject: [AuditService, InFlightBudget, { token: Registry, optional: true }],
      useFactory: (audit: AuditService, budget: InFlightBudget, registry?: Registry) =>
        new OverloadRefusals(audit, budget, registry ?? null),
    },
  ],
  controllers: [LedgerController],
  exports: [IngestionService, InFlightBudget, OverloadRefusals],
})
export class IngestionModule {}
