import { type Database } from '../../database/index.js';
import { Gauge, type Registry, SCRAPE_CACHE_MS, ScrapeCache } from '../../metrics/index.js';

/**
 * The syslog spool's backlog at scrape time: audit rows appended after the destination's delivery
 * cursor (seq has no gaps since the AuditTrail migration, so a difference of two indexed values
 * gives the count without scanning the backlog). Grows while the collector is down.
 */
export class SyslogMetrics {
  constructor(registry: Registry, db: Database, destination: string) {
    const backlog = new ScrapeCache(SCRAPE_CACHE_MS, async () => {
      const [row] = await db.query<{ n: string }>(
        `SELECT ((SELECT coalesce(max(seq), 0) FROM audit_events)
               - coalesce((SELECT delivered_seq FROM audit_syslog_cursors WHERE destination = $1), 0))::text AS n`,
        [destination],
      );
      return Math.max(0, Number(row?.n ?? 0));
    });
    new Gauge({
      name: 'strata_audit_syslog_backlog',
      help: 'Audit rows not yet confirmed by the syslog collector (audit.syslog), by destination',
      labelNames: ['destination'],
      registers: [registry],
      async collect() {
        this.set({ destination }, await backlog.get());
      },
    });
  }
}
