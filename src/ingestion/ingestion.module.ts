import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { CatalogModule } from '../catalog/index.js';
import { StorageModule } from '../storage/index.js';
import { StorageCommitmentService } from './commitment/storage-commitment.service.js';
import { IngestionService } from './ingestion.service.js';
import { ReceivedDigestRepository } from './received-digest.repository.js';
import { LedgerController } from './ledger/ledger.controller.js';

@Module({
  imports: [StorageModule, CatalogModule, AuditModule],
  providers: [IngestionService, StorageCommitmentService, ReceivedDigestRepository],
  controllers: [LedgerController],
  exports: [IngestionService],
})
export class IngestionModule {}
