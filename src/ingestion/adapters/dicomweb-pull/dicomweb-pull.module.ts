import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { DicomwebPullAdapter } from './dicomweb-pull.adapter.js';

@Module({
  imports: [IngestionModule],
  providers: [DicomwebPullAdapter],
  exports: [DicomwebPullAdapter],
})
export class DicomwebPullModule {}
