import { describe, expect, it } from 'vitest';
import { InFlightBudget } from './in-flight-budget.js';

async function* chunks(...sizes: number[]): AsyncGenerator<Buffer> {
  for (const n of sizes) yield Buffer.alloc(n);
}

describe('InFlightBudget', () => {
  it('charges the bytes read, is exhausted at the limit, and gives them back once on release', async () => {
    const budget = new InFlightBudget(100);
    const a = budget.open();
    const b = budget.open();
    const ita = a.meter(chunks(40, 30));
    const itb = b.meter(chunks(30, 10));
    await ita.next();
    await itb.next();
    expect(budget.inFlightBytes).toBe(70);
    expect(budget.inFlightInstances).toBe(2);
    expect(budget.exhausted).toBe(false);
    await ita.next();
    expect(budget.inFlightBytes).toBe(100);
    expect(budget.exhausted).toBe(true);
    // Not cut off: an instance in progress reads on past the limit.
    expect((await itb.next()).value).toHaveLength(10);
    expect(budget.inFlightBytes).toBe(110);
    a.release();
    a.release();
    expect(budget.inFlightBytes).toBe(40);
    expect(budget.exhausted).toBe(false);
    // Bytes read after release are not charged (the charge is closed).
    expect((await ita.next()).done).toBe(true);
    b.release();
    expect(budget.inFlightBytes).toBe(0);
    expect(budget.inFlightInstances).toBe(0);
  });

  it('refuses a limit that is not a positive number of bytes', () => {
    expect(() => new InFlightBudget(0)).toThrow(RangeError);
    expect(() => new InFlightBudget(1.5)).toThrow(RangeError);
  });
});
