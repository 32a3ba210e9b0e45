import { type Duration } from './policy-model.js';

/**
 * Durations in policy files: one or more `<whole number> <unit>` pairs, each unit at most once,
 * units year(s), month(s), week(s) and day(s) (a week is 7 days). '10 years', '2 years 6 months',
 * '30 days', '0 days'.
 */

const EXAMPLE = "expected a duration such as '10 years'";
const UNITS_HINT = 'use years, months, weeks or days';
/** Larger numbers are certainly a mistake, and would overflow date arithmetic. */
const MAX_NUMBER = 100_000;

type Unit = 'year' | 'month' | 'week' | 'day';

const UNIT_NAMES: Record<string, Unit> = {
  year: 'year',
  years: 'year',
  month: 'month',
  months: 'month',
  week: 'week',
  weeks: 'week',
  day: 'day',
  days: 'day',
};

/** A token: a number (digits, possibly signed or with a decimal part) or a word. */
const TOKEN = /[+-]?\d+(?:[.,]\d+)?|[+-]?[.,]\d+|[A-Za-z]+|\S/g;
const NUMBER_START = /^[+-]?[.,]?\d/;

/**
 * Parses a duration as written in a policy file. Throws an Error whose message says what was
 * expected and what is wrong ("expected a duration such as '10 years', got '10 yeers' (unknown
 * unit 'yeers'; use years, months, weeks or days)").
 */
export function parseDuration(text: string): Duration {
  const trimmed = text.trim();
  const fail = (why: string): never => {
    throw new Error(`${EXAMPLE}, got '${trimmed}' (${why})`);
  };
  if (trimmed === '') throw new Error(`${EXAMPLE}, got nothing`);

  const tokens = trimmed.match(TOKEN) ?? [];
  const seen = new Set<Unit>();
  const total = { years: 0, months: 0, days: 0 };
  for (let i = 0; i < tokens.length; i += 2) {
    const numberText = tokens[i]!;
    const unitText = tokens[i + 1];
    if (!NUMBER_START.test(numberText)) {
      if (numberText === ',' || numberText.toLowerCase() === 'and') {
        fail("separate the parts with spaces only, e.g. '2 years 6 months'");
      }
      if (UNIT_NAMES[numberText.toLowerCase()] !== undefined) {
        fail(`missing number before '${numberText}'`);
      }
      fail(`'${numberText}' is not a number`);
    }
    if (numberText.startsWith('-')) fail('a duration cannot be negative');
    if (/[.,]/.test(numberText)) {
      fail("use whole numbers, e.g. '1 year 6 months' rather than '1.5 years'");
    }
    if (numberText.startsWith('+')) fail(`write '${numberText.slice(1)}' without the sign`);
    const n = Number(numberText);
    if (n > MAX_NUMBER) fail(`${numberText} is too large`);
    if (unitText === undefined) fail(`missing unit after ${numberText}; ${UNITS_HINT}`);
    const unit = UNIT_NAMES[unitText!.toLowerCase()];
    if (unit === undefined) {
      if (NUMBER_START.test(unitText!)) fail(`missing unit after ${numberText}; ${UNITS_HINT}`);
      fail(`unknown unit '${unitText}'; ${UNITS_HINT}`);
    }
    if (seen.has(unit!)) fail(`${unit}s given twice`);
    seen.add(unit!);
    if (unit === 'year') total.years = n;
    else if (unit === 'month') total.months = n;
    else if (unit === 'week') total.days += 7 * n;
    else total.days += n;
  }
  return { ...total, text: trimmed };
}

/**
 * Writes a duration in the canonical form: '2 years 6 months', '1 day', '0 days' (weeks are
 * written as days).
 */
export function formatDuration(d: Pick<Duration, 'years' | 'months' | 'days'>): string {
  const parts: string[] = [];
  const part = (n: number, unit: string) => {
    if (n !== 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  };
  part(d.years, 'year');
  part(d.months, 'month');
  part(d.days, 'day');
  return parts.length > 0 ? parts.join(' ') : '0 days';
}
