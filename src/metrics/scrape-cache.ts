/**
 * A value computed at scrape time, kept for `ttlMs`: figures read from the catalog (bytes per
 * tier, jobs, backlogs) cost a query, and Prometheus (or several, or a person with curl) may
 * scrape often. Concurrent scrapes share one query; a failed query is not kept.
 */
export class ScrapeCache<T> {
  private value: { at: number; data: T } | null = null;
  private pending: Promise<T> | null = null;

  constructor(
    private readonly ttlMs: number,
    private readonly load: () => Promise<T>,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.ttlMs) {
      return Promise.resolve(this.value.data);
    }
    this.pending ??= this.load()
      .then((data) => {
        this.value = { at: this.now(), data };
        return data;
      })
      .finally(() => (this.pending = null));
    return this.pending;
  }
}

/** How long scrape-time catalog figures are reused (see ScrapeCache). */
export const SCRAPE_CACHE_MS = 15_000;

/** Histogram buckets (seconds) for operations from about a millisecond to a minute. */
export const DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
