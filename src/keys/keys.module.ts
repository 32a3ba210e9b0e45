import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { StorageModule } from '../storage/index.js';
import { KEYS_OPTIONS, KeyJobs, type KeysOptions } from './key-jobs.service.js';
import { KeysController } from './keys.controller.js';

@Module({})
export class KeysModule {
  /** `tiering` is the TieringModule instance the app already has (one JobLeases per process). */
  static forRoot(options: KeysOptions, tiering: DynamicModule): DynamicModule {
    return {
      module: KeysModule,
      imports: [StorageModule, AuditModule, tiering],
      providers: [{ provide: KEYS_OPTIONS, useValue: options }, KeyJobs],
      controllers: options.http ? [KeysController] : [],
      exports: [KeyJobs],
    };
  }
}
