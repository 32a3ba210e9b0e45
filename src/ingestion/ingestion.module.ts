import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { CatalogModule } from '../catalog/index.js';
import { StorageModule } from '../storage/index.js';
import { IngestionService } from './ingestion.service.js';

@Module({
  imports: [StorageModule, CatalogModule, AuditModule],
  providers: [IngestionService],
  exports: [IngestionService],
})
export class IngestionModule {}
