import { Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Prometheus registry per app (not prom-client's global one: tests start several apps in one
 * process, and each must count only its own). Contexts register their metrics on it; the admin
 * context serves it at GET /metrics.
 */
@Global()
@Module({
  providers: [
    {
      provide: Registry,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry, prefix: 'strata_' });
        return registry;
      },
    },
  ],
  exports: [Registry],
})
export class MetricsModule {}
