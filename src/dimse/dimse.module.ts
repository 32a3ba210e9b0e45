import { Global, Module } from '@nestjs/common';
import { DimseServiceRegistry } from './service-registry.js';

/**
 * The one Nest file of the dimse context: a single DimseServiceRegistry for the whole app, so the
 * contexts that provide DIMSE services (register in onModuleInit) and the association listener
 * (starts in onApplicationBootstrap, after every onModuleInit) share it.
 */
@Global()
@Module({
  providers: [DimseServiceRegistry],
  exports: [DimseServiceRegistry],
})
export class DimseModule {}
