// Public surface of the metrics context: the app's Prometheus registry (prom-client), and the
// helpers contexts use to register their metrics on it (each context keeps its own in a
// *-metrics.ts file).
export { MetricsModule } from './metrics.module.js';
export { DURATION_BUCKETS_SECONDS, SCRAPE_CACHE_MS, ScrapeCache } from './scrape-cache.js';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
