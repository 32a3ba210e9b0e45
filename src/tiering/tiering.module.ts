import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { StorageModule } from '../storage/index.js';
import { FixityService } from './fixity.service.js';
import { TieringController } from './tiering.controller.js';
import { TIERING_OPTIONS, TierMover, type TieringOptions } from './tier-mover.service.js';

@Module({})
export class TieringModule {
  /** The server resumes interrupted moves at start; a CLI command runs only the job it was asked. */
  static forRoot(options: TieringOptions): DynamicModule {
    return {
      module: TieringModule,
      imports: [StorageModule, AuditModule],
      providers: [{ provide: TIERING_OPTIONS, useValue: options }, TierMover, FixityService],
      controllers: options.http ? [TieringController] : [],
      exports: [TierMover, FixityService],
    };
  }
}
