import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { OrthancPullAdapter } from './orthanc-pull.adapter.js';

@Module({
  imports: [IngestionModule],
  providers: [OrthancPullAdapter],
  exports: [OrthancPullAdapter],
})
export class OrthancPullModule {}
