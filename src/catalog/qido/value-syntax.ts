import { SearchError } from './search-types.js';

/**
 * Parsing of matching values (PS3.4 C.2.2.2): wildcards, and date, time and date-time ranges,
 * normalised to fixed-width strings that compare correctly as text. Pure; errors name the key only.
 */

/** True when the value uses wildcard matching ('*' any sequence, '?' one character). */
export function hasWildcard(value: string): boolean {
  return value.includes('*') || value.includes('?');
}

/**
 * A LIKE pattern (with ESCAPE '\') for a wildcard value: the user's '%', '_' and '\' are literal
 * characters in DICOM, so they are escaped before '*' and '?' become '%' and '_'.
 */
export function likePattern(value: string): string {
  return value
    .replace(/[\\%_]/g, (c) => `\\${c}`)
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');
}

export interface Range {
  /** Inclusive normalised lower bound, or null when open. */
  lower: string | null;
  /** Inclusive normalised upper bound, or null when open. */
  upper: string | null;
}

/** Splits 'a-b', '-b', 'a-' or 'a' (a single value is returned as lower = upper = a). */
function splitRange(value: string, key: string): { from: string; to: string; single: boolean } {
  const parts = value.split('-');
  if (parts.length === 1) return { from: value, to: value, single: true };
  if (parts.length !== 2 || (parts[0] === '' && parts[1] === '')) {
    throw new SearchError(`${key} is not a valid single value or range`, key);
  }
  return { from: parts[0]!, to: parts[1]!, single: false };
}

const DA = /^(\d{4})(\d{2})(\d{2})$/;

function checkDate(s: string, key: string): string {
  const m = DA.exec(s);
  const month = m ? Number(m[2]) : 0;
  const day = m ? Number(m[3]) : 0;
  if (!m || month < 1 || month > 12 || day < 1 || day > 31) {
    throw new SearchError(`${key} must be a date YYYYMMDD or a range of them`, key);
  }
  return s;
}

/** DA single value or range: 20240101, 20240101-20240131, -20240131, 20240101-. */
export function parseDateRange(value: string, key: string): Range {
  const { from, to } = splitRange(value, key);
  const range: Range = {
    lower: from === '' ? null : checkDate(from, key),
    upper: to === '' ? null : checkDate(to, key),
  };
  if (range.lower && range.upper && range.lower > range.upper) {
    throw new SearchError(`${key} is a range whose start is after its end`, key);
  }
  return range;
}

const TM = /^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$/;

/**
 * A TM value of any precision, normalised to 'HHMMSS.FFFFFF'. The unspecified components are
 * filled with their lowest (lower bound) or highest (upper bound) value, so that '10' as an upper
 * bound means "until 10:59:59.999999", as a user means it.
 */
function normaliseTime(s: string, key: string, bound: 'lower' | 'upper'): string {
  // ACR-NEMA style '10:30:00' is still sent by old systems.
  const m = TM.exec(s.replace(/:/g, ''));
  if (!m || Number(m[1]) > 23 || Number(m[2] ?? 0) > 59 || Number(m[3] ?? 0) > 60) {
    throw new SearchError(
      `${key} must be a time HHMMSS.FFFFFF (of any precision) or a range of them`,
      key,
    );
  }
  const hi = bound === 'upper';
  const mm = m[2] ?? (hi ? '59' : '00');
  const ss = m[3] ?? (hi ? '59' : '00');
  const frac = (m[4] ?? '').padEnd(6, hi ? '9' : '0');
  return `${m[1]}${mm}${ss}.${frac}`;
}

/**
 * TM single value or range. A single value matches the whole period it names ('1030' is
 * 10:30:00 to 10:30:59.999999). A range whose start is after its end spans midnight
 * (PS3.4 C.2.2.2.5): `wrapsMidnight` tells the caller to OR the two halves.
 */
export function parseTimeRange(value: string, key: string): Range & { wrapsMidnight: boolean } {
  const { from, to } = splitRange(value, key);
  const lower = from === '' ? null : normaliseTime(from, key, 'lower');
  const upper = to === '' ? null : normaliseTime(to, key, 'upper');
  return { lower, upper, wrapsMidnight: lower !== null && upper !== null && lower > upper };
}

const DT = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$/;

/**
 * A DT value of any precision, normalised to 'YYYYMMDDHHMMSS.FFFFFF'. UTC offsets ('+0100',
 * '-0500') are not supported in queries: '-' is also the range separator, and the catalog does
 * not normalise stored values to UTC either, so they compare as local times.
 */
function normaliseDateTime(s: string, key: string, bound: 'lower' | 'upper'): string {
  const m = DT.exec(s);
  // A fraction is only valid after seconds.
  if (!m || (m[7] !== undefined && m[6] === undefined)) {
    throw new SearchError(
      `${key} must be a date-time YYYYMMDDHHMMSS.FFFFFF (of any precision, without UTC offset) or a range of them`,
      key,
    );
  }
  const hi = bound === 'upper';
  const fill = (v: string | undefined, lo: string, high: string) => v ?? (hi ? high : lo);
  const month = fill(m[2], '01', '12');
  const day = fill(m[3], '01', '31');
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > 31) {
    throw new SearchError(`${key} has an invalid month or day`, key);
  }
  const time = `${fill(m[4], '00', '23')}${fill(m[5], '00', '59')}${fill(m[6], '00', '59')}`;
  const frac = (m[7] ?? '').padEnd(6, hi ? '9' : '0');
  return `${m[1]}${month}${day}${time}.${frac}`;
}

/** DT single value (the whole period it names) or range. */
export function parseDateTimeRange(value: string, key: string): Range {
  const { from, to } = splitRange(value, key);
  const lower = from === '' ? null : normaliseDateTime(from, key, 'lower');
  const upper = to === '' ? null : normaliseDateTime(to, key, 'upper');
  if (lower && upper && lower > upper) {
    throw new SearchError(`${key} is a range whose start is after its end`, key);
  }
  return { lower, upper };
}

/** A stored TM value as SQL, normalised like the bounds ('1030' → '103000.000000'). */
export function normalisedTimeSql(column: string): string {
  const t = `replace(${column}, ':', '')`;
  return `(rpad(split_part(${t}, '.', 1), 6, '0') || '.' || rpad(split_part(${t}, '.', 2), 6, '0'))`;
}

/** A stored DT value as SQL, normalised like the bounds (any UTC offset dropped). */
export function normalisedDateTimeSql(column: string): string {
  const t = `regexp_replace(${column}, '[+-][0-9]{4}$', '')`;
  return `(rpad(split_part(${t}, '.', 1), 14, '0') || '.' || rpad(split_part(${t}, '.', 2), 6, '0'))`;
}
