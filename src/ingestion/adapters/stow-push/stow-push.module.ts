import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { StowController } from './stow.controller.js';

@Module({
  imports: [IngestionModule],
  controllers: [StowController],
})
export class StowPushModule {}
