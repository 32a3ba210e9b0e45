import { type Database } from '../database/index.js';
import { Gauge, type Registry, SCRAPE_CACHE_MS, ScrapeCache } from '../metrics/index.js';

interface JobRow {
  kind: string;
  status: string;
  n: number;
  done: string;
  total: string;
}

/**
 * The statuses of unfinished work, and failures of the last day (so that an alert on them clears
 * by itself); done jobs are history, not queue depth.
 */
const SHOWN_STATUSES = ['queued', 'running', 'paused', 'failed'];

/**
 * The job queue at scrape time (the jobs table is shared by every node, so any node's scrape shows
 * the cluster's queue): jobs per kind and status, and the progress of the running jobs of each
 * kind. A kind/status seen once keeps being reported (as 0), so series do not vanish.
 */
export class JobMetrics {
  constructor(registry: Registry, db: Database) {
    const jobs = new ScrapeCache(SCRAPE_CACHE_MS, () =>
      db.query<JobRow>(
        `SELECT kind, status, count(*)::int AS n, sum(done)::text AS done, sum(total)::text AS total
           FROM jobs
          WHERE status IN ('queued', 'running', 'paused')
             OR (status = 'failed' AND finished_at > now() - interval '1 day')
          GROUP BY kind, status`,
      ),
    );
    const kinds = new Set<string>();
    new Gauge({
      name: 'strata_jobs',
      help: 'Jobs (tier moves, sweeps, fixity runs, key jobs...) by kind and status: queued, running, paused, and failed in the last 24 hours',
      labelNames: ['kind', 'status'],
      registers: [registry],
      async collect() {
        const rows = await jobs.get();
        for (const r of rows) kinds.add(r.kind);
        this.reset();
        for (const kind of kinds) {
          for (const status of SHOWN_STATUSES) {
            const row = rows.find((r) => r.kind === kind && r.status === status);
            this.set({ kind, status }, row?.n ?? 0);
          }
        }
      },
    });
    new Gauge({
      name: 'strata_job_progress_ratio',
      help: 'Progress of the running jobs of each kind: items done / items planned (0 when none runs)',
      labelNames: ['kind'],
      registers: [registry],
      async collect() {
        const rows = await jobs.get();
        for (const r of rows) kinds.add(r.kind);
        this.reset();
        for (const kind of kinds) {
          const row = rows.find((r) => r.kind === kind && r.status === 'running');
          const total = Number(row?.total ?? 0);
          this.set({ kind }, total > 0 ? Math.min(1, Number(row!.done) / total) : 0);
        }
      },
    });
  }
}
