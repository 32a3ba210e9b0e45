import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/index.js';
import { StorageModule } from '../storage/index.js';
import { AuditController } from './audit.controller.js';
import { AuthGuard } from './auth.guard.js';
import { ConfigAuditService } from './config-audit.service.js';
import { ConfigVersionsRepository } from './config-versions.repository.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { PoliciesController } from './policies.controller.js';
import { PolicyReloadService } from './policy-reload.service.js';
import { ProblemDetailsFilter } from './problem.filter.js';
import { ReadinessService } from './readiness.service.js';
import { TokenBootstrapService } from './token-bootstrap.service.js';
import { TokensController } from './tokens.controller.js';
import { TokensModule } from './tokens.module.js';

@Module({
  imports: [AuditModule, TokensModule, StorageModule],
  controllers: [
    HealthController,
    AuditController,
    MetricsController,
    PoliciesController,
    TokensController,
  ],
  providers: [
    TokenBootstrapService,
    ReadinessService,
    PolicyReloadService,
    ConfigVersionsRepository,
    ConfigAuditService,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_FILTER, useClass: ProblemDetailsFilter },
  ],
})
export class AdminModule {}
