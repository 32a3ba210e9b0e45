import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type StrataConfig } from './strata-config.js';

/** Injection token for the StrataConfig object. */
export const STRATA_CONFIG = Symbol('STRATA_CONFIG');

/** Provides the configuration that main.ts (or a test) loaded and validated before Nest starts. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: StrataConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: STRATA_CONFIG, useValue: config }],
      exports: [STRATA_CONFIG],
    };
  }
}
