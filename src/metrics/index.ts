// Public surface of the metrics context: the app's Prometheus registry (prom-client).
export { MetricsModule } from './metrics.module.js';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
