import { Module } from '@nestjs/common';
import { AuditModule } from '../../../audit/index.js';
import { IngestionModule } from '../../ingestion.module.js';
import { DimsePushService } from './dimse-push.service.js';

@Module({
  imports: [IngestionModule, AuditModule],
  providers: [DimsePushService],
  exports: [DimsePushService],
})
export class DimsePushModule {}
