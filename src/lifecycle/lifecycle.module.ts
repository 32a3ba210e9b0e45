import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { CatalogModule } from '../catalog/index.js';
import { StorageModule } from '../storage/index.js';
import { Clock } from './clock.js';
import { HoldsService } from './holds.service.js';
import { LifecycleController } from './lifecycle.controller.js';
import { LifecycleService } from './lifecycle.service.js';
import { PolicyStore } from './policy-store.service.js';
import { Purger } from './purger.service.js';
import { RecallService } from './recall.service.js';
import { Scheduler } from './scheduler.service.js';
import { SimulationService } from './simulation.service.js';
import { LIFECYCLE_OPTIONS, type LifecycleOptions, Sweeps } from './sweeps.service.js';

const SERVICES = [
  Clock,
  PolicyStore,
  LifecycleService,
  HoldsService,
  Purger,
  RecallService,
  SimulationService,
  Sweeps,
  Scheduler,
];

@Module({})
export class LifecycleModule {
  /**
   * The server resumes sweeps and runs the schedule; a CLI command gets the services only.
   * `tiering` is the TieringModule instance the app already has (moves run in one queue).
   */
  static forRoot(options: LifecycleOptions, tiering: DynamicModule): DynamicModule {
    return {
      module: LifecycleModule,
      imports: [StorageModule, AuditModule, CatalogModule, tiering],
      providers: [{ provide: LIFECYCLE_OPTIONS, useValue: options }, ...SERVICES],
      controllers: options.http ? [LifecycleController] : [],
      exports: SERVICES,
    };
  }
}
