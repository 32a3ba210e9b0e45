import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['10 years', { years: 10, months: 0, days: 0 }],
    ['1 year', { years: 1, months: 0, days: 0 }],
    ['6 months', { years: 0, months: 6, days: 0 }],
    ['1 month', { years: 0, months: 1, days: 0 }],
    ['30 days', { years: 0, months: 0, days: 30 }],
    ['1 day', { years: 0, months: 0, days: 1 }],
    ['2 weeks', { years: 0, months: 0, days: 14 }],
    ['1 week 3 days', { years: 0, months: 0, days: 10 }],
    ['2 years 6 months', { years: 2, months: 6, days: 0 }],
    ['6 months 2 years', { years: 2, months: 6, days: 0 }],
    ['1 year 2 months 3 weeks 4 days', { years: 1, months: 2, days: 25 }],
    ['0 days', { years: 0, months: 0, days: 0 }],
    ['0 years', { years: 0, months: 0, days: 0 }],
    ['10years', { years: 10, months: 0, days: 0 }],
    ['10 Years', { years: 10, months: 0, days: 0 }],
    ['007 days', { years: 0, months: 0, days: 7 }],
  ])('%s', (text, expected) => {
    expect(parseDuration(text)).toEqual({ ...expected, text });
  });

  it('keeps the text as written, trimmed', () => {
    expect(parseDuration('  2 years   6 months \n')).toEqual({
      years: 2,
      months: 6,
      days: 0,
      text: '2 years   6 months',
    });
  });

  it.each([
    ['', "expected a duration such as '10 years', got nothing"],
    ['   ', "expected a duration such as '10 years', got nothing"],
    [
      '10 yeers',
      "expected a duration such as '10 years', got '10 yeers' (unknown unit 'yeers'; use years, months, weeks or days)",
    ],
    [
      '10 y',
      "expected a duration such as '10 years', got '10 y' (unknown unit 'y'; use years, months, weeks or days)",
    ],
    [
      '-1 years',
      "expected a duration such as '10 years', got '-1 years' (a duration cannot be negative)",
    ],
    [
      '1 year -2 months',
      "expected a duration such as '10 years', got '1 year -2 months' (a duration cannot be negative)",
    ],
    [
      '1.5 years',
      "expected a duration such as '10 years', got '1.5 years' (use whole numbers, e.g. '1 year 6 months' rather than '1.5 years')",
    ],
    [
      '1,5 years',
      "expected a duration such as '10 years', got '1,5 years' (use whole numbers, e.g. '1 year 6 months' rather than '1.5 years')",
    ],
    [
      '.5 years',
      "expected a duration such as '10 years', got '.5 years' (use whole numbers, e.g. '1 year 6 months' rather than '1.5 years')",
    ],
    [
      '10',
      "expected a duration such as '10 years', got '10' (missing unit after 10; use years, months, weeks or days)",
    ],
    [
      '10 20 days',
      "expected a duration such as '10 years', got '10 20 days' (missing unit after 10; use years, months, weeks or days)",
    ],
    [
      'years',
      "expected a duration such as '10 years', got 'years' (missing number before 'years')",
    ],
    [
      'ten years',
      "expected a duration such as '10 years', got 'ten years' ('ten' is not a number)",
    ],
    [
      '2 years 3 years',
      "expected a duration such as '10 years', got '2 years 3 years' (years given twice)",
    ],
    [
      '1 year 2 years',
      "expected a duration such as '10 years', got '1 year 2 years' (years given twice)",
    ],
    [
      '2 days 1 day',
      "expected a duration such as '10 years', got '2 days 1 day' (days given twice)",
    ],
    [
      '2 years, 6 months',
      "expected a duration such as '10 years', got '2 years, 6 months' (separate the parts with spaces only, e.g. '2 years 6 months')",
    ],
    [
      '2 years and 6 months',
      "expected a duration such as '10 years', got '2 years and 6 months' (separate the parts with spaces only, e.g. '2 years 6 months')",
    ],
    [
      '+3 days',
      "expected a duration such as '10 years', got '+3 days' (write '3' without the sign)",
    ],
    [
      '100001 years',
      "expected a duration such as '10 years', got '100001 years' (100001 is too large)",
    ],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new Error(message));
  });
});

describe('formatDuration', () => {
  it.each([
    [{ years: 10, months: 0, days: 0 }, '10 years'],
    [{ years: 1, months: 0, days: 0 }, '1 year'],
    [{ years: 2, months: 6, days: 0 }, '2 years 6 months'],
    [{ years: 0, months: 1, days: 1 }, '1 month 1 day'],
    [{ years: 0, months: 0, days: 14 }, '14 days'],
    [{ years: 0, months: 0, days: 0 }, '0 days'],
  ])('%j → %s', (d, text) => {
    expect(formatDuration(d)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const text of ['10 years', '2 years 6 months', '1 year 1 month 1 day', '0 days']) {
      const d = parseDuration(text);
      expect(formatDuration(d)).toBe(text);
      expect(parseDuration(formatDuration(d))).toEqual(d);
    }
  });

  it('writes weeks as days', () => {
    expect(formatDuration(parseDuration('2 weeks'))).toBe('14 days');
  });
});
