import { type Database } from '../database/index.js';
import { Counter, Gauge, type Registry } from '../metrics/index.js';

/**
 * Fixity as Prometheus sees it: copies checked by outcome, repairs, when the last check ended,
 * and the copies marked bad right now (read from the catalog at each scrape, so the figure is the
 * archive's state whichever node ran the check).
 */
export class FixityMetrics {
  readonly checked: Counter<'tier' | 'result'>;
  readonly repaired: Counter<'tier'>;
  readonly lastRunEnd: Gauge;

  constructor(registry: Registry, db: Database) {
    this.checked = new Counter({
      name: 'strata_fixity_copies_checked_total',
      help: 'Stored copies checked by fixity runs, by tier and result (ok, missing, corrupt, unreadable)',
      labelNames: ['tier', 'result'],
      registers: [registry],
    });
    this.repaired = new Counter({
      name: 'strata_fixity_copies_repaired_total',
      help: 'Bad copies replaced by a verified copy from another location, by tier',
      labelNames: ['tier'],
      registers: [registry],
    });
    this.lastRunEnd = new Gauge({
      name: 'strata_fixity_last_run_end_timestamp_seconds',
      help: 'When the last fixity run on this node ended (Unix time)',
      registers: [registry],
    });
    new Gauge({
      name: 'strata_copies_bad',
      help: 'Stored copies currently marked missing or corrupt (not read from until repaired), by tier and status',
      labelNames: ['tier', 'status'],
      registers: [registry],
      async collect() {
        const rows = await db.query<{ tier: string; status: string; n: number }>(
          `SELECT tier, status, count(*)::int AS n FROM locations
            WHERE status IN ('missing', 'corrupt') GROUP BY tier, status`,
        );
        this.reset();
        for (const tier of ['hot', 'warm', 'cold']) {
          for (const status of ['missing', 'corrupt']) {
            const row = rows.find((r) => r.tier === tier && r.status === status);
            this.set({ tier, status }, row?.n ?? 0);
          }
        }
      },
    });
  }
}
