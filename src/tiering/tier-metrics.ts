import { type Database } from '../database/index.js';
import { Gauge, type Registry, SCRAPE_CACHE_MS, ScrapeCache } from '../metrics/index.js';

const TIERS = ['hot', 'warm', 'cold'];

interface TierRow {
  tier: string;
  bytes: string;
  studies: number;
  copies: number;
}

/**
 * What each tier holds, read from the catalog at scrape time: bytes stored (the encrypted
 * objects' sizes), studies with at least one copy there, and copies. One aggregate query over
 * locations, reused for SCRAPE_CACHE_MS so that frequent scrapes do not rescan the catalog.
 * Copies known to be missing are not counted.
 */
export class TierMetrics {
  constructor(registry: Registry, db: Database) {
    const usage = new ScrapeCache(SCRAPE_CACHE_MS, () =>
      db.query<TierRow>(
        `SELECT l.tier, sum(l.stored_size)::text AS bytes,
                count(DISTINCT b.study_instance_uid)::int AS studies, count(*)::int AS copies
           FROM locations l JOIN blobs b ON b.id = l.blob_fk
          WHERE l.status <> 'missing'
          GROUP BY l.tier`,
      ),
    );
    const gauge = (name: string, help: string, value: (r: TierRow) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['tier'],
        registers: [registry],
        async collect() {
          const rows = await usage.get();
          this.reset();
          for (const tier of new Set([...TIERS, ...rows.map((r) => r.tier)])) {
            const row = rows.find((r) => r.tier === tier);
            this.set({ tier }, row ? value(row) : 0);
          }
        },
      });
    gauge('strata_tier_bytes', 'Bytes stored on each tier (encrypted object sizes)', (r) =>
      Number(r.bytes),
    );
    gauge('strata_tier_studies', 'Studies with at least one copy on each tier', (r) => r.studies);
    gauge('strata_tier_copies', 'Stored copies (objects) on each tier', (r) => r.copies);
  }
}
