/**
 * The instances/s limit of a pull, shared by its associations: each unit of work (a C-GET
 * sub-operation, a C-MOVE of a study of n instances) books n / rate seconds, starting when the
 * previous booking ends, and waits for its turn. The average rate stays under the limit; a
 * C-MOVE still arrives as fast as the PACS sends it, so its study is what bounds a burst.
 */
export class Pace {
  /** When (epoch ms) the next booking may start. */
  private free = 0;

  constructor(
    private readonly perSecond: number | null,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void> = wait,
  ) {}

  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond === null || n <= 0) return;
    const now = this.now();
    const start = Math.max(now, this.free);
    this.free = start + (n / this.perSecond) * 1000;
    if (start > now) await this.sleep(start - now, signal);
  }
}

/** Resolves after ms, or at once when the signal aborts (the caller then sees it aborted). */
function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
