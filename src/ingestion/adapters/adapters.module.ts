import { Module } from '@nestjs/common';
import { INGESTION_ADAPTERS, type IngestionAdapter } from './adapter.js';
import { AdapterRegistry } from './adapter-registry.js';
import { REGISTERED_ADAPTERS } from './registered-adapters.js';
import { SourcesController } from './sources.controller.js';

/**
 * The server's adapters: every registered adapter's module, the INGESTION_ADAPTERS token holding
 * their instances, the registry that checks and starts them, and GET /api/sources.
 */
@Module({
  imports: REGISTERED_ADAPTERS.map((r) => r.module),
  providers: [
    {
      provide: INGESTION_ADAPTERS,
      inject: REGISTERED_ADAPTERS.map((r) => r.adapter),
      useFactory: (...adapters: IngestionAdapter[]) => adapters,
    },
    AdapterRegistry,
  ],
  controllers: [SourcesController],
  exports: [AdapterRegistry],
})
export class AdaptersModule {}
