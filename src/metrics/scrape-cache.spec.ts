import { describe, expect, it } from 'vitest';
import { ScrapeCache } from './scrape-cache.js';

describe('ScrapeCache', () => {
  it('runs the query once per period, shared by concurrent scrapes, and not keeping failures', async () => {
    let now = 0;
    let calls = 0;
    let fail = false;
    const cache = new ScrapeCache(
      15_000,
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('down');
        return calls;
      },
      () => now,
    );
    expect(await Promise.all([cache.get(), cache.get(), cache.get()])).toEqual([1, 1, 1]);
    now = 14_999;
    expect(await cache.get()).toBe(1);
    expect(calls).toBe(1);
    now = 15_000;
    fail = true;
    await expect(cache.get()).rejects.toThrow('down');
    fail = false;
    expect(await cache.get()).toBe(3);
    expect(calls).toBe(3);
  });
});
