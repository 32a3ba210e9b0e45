import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { DimsePullAdapter } from './dimse-pull.adapter.js';

@Module({
  imports: [IngestionModule],
  providers: [DimsePullAdapter],
  exports: [DimsePullAdapter],
})
export class DimsePullModule {}
