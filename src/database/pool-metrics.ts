import { Gauge, type Registry } from '../metrics/index.js';
import { type Database } from './database.js';

/**
 * The connection pool at scrape time (no query: pg's own counters): connections open, idle, in
 * use, the configured maximum, and requests waiting for a connection (a pool too small, or
 * queries too slow, shows here first).
 */
export class PoolMetrics {
  constructor(registry: Registry, db: Database) {
    new Gauge({
      name: 'strata_db_pool_connections',
      help: 'PostgreSQL pool: connections by state (total, idle, active, max) and waiting requests (waiting)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const s = db.poolStats();
        this.set({ state: 'total' }, s.total);
        this.set({ state: 'idle' }, s.idle);
        this.set({ state: 'active' }, s.total - s.idle);
        this.set({ state: 'waiting' }, s.waiting);
        this.set({ state: 'max' }, s.max);
      },
    });
  }
}
