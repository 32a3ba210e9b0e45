import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { StorageModule } from '../storage/index.js';
import { TieringController } from './tiering.controller.js';
import { TierMover } from './tier-mover.service.js';

@Module({
  imports: [StorageModule, AuditModule],
  providers: [TierMover],
  controllers: [TieringController],
  exports: [TierMover],
})
export class TieringModule {}
