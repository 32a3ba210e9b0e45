import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { CatalogModule } from '../catalog/index.js';
import { Registry } from '../metrics/index.js';
import { StorageModule } from '../storage/index.js';
import { BulkDataService } from './bulkdata.service.js';
import { CFindScp } from './c-find-scp.js';
import { DimseRetrieveService } from './dimse-retrieve.service.js';
import { MetadataService } from './metadata.service.js';
import { QidoController } from './qido.controller.js';
import { QidoService } from './qido.service.js';
import { RestoreCoordinator } from './restore-coordinator.service.js';
import { RetrievalAudit } from './retrieval-audit.service.js';
import { RetrievalMetrics, RetrievalMetricsInterceptor } from './retrieval-metrics.js';
import { WadoController } from './wado.controller.js';
import { WadoService } from './wado.service.js';

/**
 * DICOMweb retrieval: QIDO-RS searches and WADO-RS instances, metadata and bulk data; the DIMSE
 * C-FIND, C-MOVE and C-GET SCPs (registered with the global DimseModule's service registry).
 */
@Module({
  imports: [CatalogModule, StorageModule, AuditModule],
  controllers: [QidoController, WadoController],
  providers: [
    QidoService,
    WadoService,
    MetadataService,
    BulkDataService,
    RetrievalAudit,
    RestoreCoordinator,
    CFindScp,
    DimseRetrieveService,
    {
      provide: RetrievalMetrics,
      inject: [{ token: Registry, optional: true }],
      useFactory: (registry?: Registry) => new RetrievalMetrics(registry ?? null),
    },
    RetrievalMetricsInterceptor,
  ],
  exports: [QidoService],
})
export class RetrievalModule {}
