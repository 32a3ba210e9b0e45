import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { StorageModule } from '../storage/index.js';
import { KEYS_OPTIONS, KeyJobs, type KeysOptions } from './key-jobs.service.js';
import { KeysController } from './keys.controller.js';

@Module({})
export class KeysModule {
  static forRoot(options: KeysOptions): DynamicModule {
    return {
      module: KeysModule,
      imports: [StorageModule, AuditModule],
      providers: [{ provide: KEYS_OPTIONS, useValue: options }, KeyJobs],
      controllers: options.http ? [KeysController] : [],
      exports: [KeyJobs],
    };
  }
}
