import { describe, expect, it } from 'vitest';
import { Pace } from './pace.js';

/** A fake clock whose sleeps advance it, recording each wait. */
function fakeClock() {
  let t = 1_000_000;
  const waits: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    advance: (ms: number) => (t += ms),
    waits,
  };
}

describe('Pace', () => {
  it('books n / rate seconds per unit: the average rate stays under the limit', async () => {
    const c = fakeClock();
    const pace = new Pace(10, c.now, c.sleep);
    await pace.take(5); // the first unit starts at once and books 500 ms
    await pace.take(20); // waits for the first booking to end
    await pace.take(1); // waits 2 s for the 20 instances
    expect(c.waits).toEqual([500, 2000]);
  });

  it('does not save up idle time into a burst', async () => {
    const c = fakeClock();
    const pace = new Pace(2, c.now, c.sleep);
    await pace.take(2);
    c.advance(60_000); // a minute idle
    await pace.take(2); // starts at once (the old booking ended)
    await pace.take(1); // but the next one waits for this one's second
    expect(c.waits).toEqual([1000]);
  });

  it('without a limit, or for nothing, never waits', async () => {
    const c = fakeClock();
    await new Pace(null, c.now, c.sleep).take(1000);
    await new Pace(5, c.now, c.sleep).take(0);
    expect(c.waits).toEqual([]);
  });

  it('a real wait ends early when the signal aborts', async () => {
    const pace = new Pace(1);
    await pace.take(1000);
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 20);
    await pace.take(1, stop.signal);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
