import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { StowPushAdapter } from './stow-push.adapter.js';
import { StowController } from './stow.controller.js';

@Module({
  imports: [IngestionModule],
  controllers: [StowController],
  providers: [StowPushAdapter],
  exports: [StowPushAdapter],
})
export class StowPushModule {}
