import { type Duration } from './policy-model.js';

/**
 * Calendar arithmetic on `YYYY-MM-DD` strings, in UTC.
 *
 * These run millions of times in the simulator, so they work on character codes and integers: no
 * regular expressions, no Date objects (except `dayOf` on a timestamp with a non-zero UTC offset).
 * Inputs are assumed well formed (the catalog and the policy loader validate them); `isDate` and
 * `parseDicomDate` are the validating entry points.
 */

const ZERO = 48;

/** The integer value of `len` ASCII digits at `at`, or -1 when one of them is not a digit. */
function digits(s: string, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = s.charCodeAt(i) - ZERO;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in month `m` (1-12) of year `y`. */
export function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeap(y) ? 29 : MONTH_DAYS[m - 1];
}

/** Formats a calendar date as `YYYY-MM-DD` (years 0-9999). */
export function formatDate(y: number, m: number, d: number): string {
  const yy = y < 10 ? '000' + y : y < 100 ? '00' + y : y < 1000 ? '0' + y : '' + y;
  return yy + (m < 10 ? '-0' : '-') + m + (d < 10 ? '-0' : '-') + d;
}

/** Whether `s` is a valid calendar date written `YYYY-MM-DD`. */
export function isDate(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  return valid(digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2));
}

function valid(y: number, m: number, d: number): boolean {
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/** Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The `YYYY-MM-DD` date `n` days after 1970-01-01. */
export function fromDayNumber(n: number): string {
  const z = n + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return formatDate(yoe + era * 400 + (m <= 2 ? 1 : 0), m, d);
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date. */
export function dayNumber(date: string): number {
  return daysFromCivil(digits(date, 0, 4), digits(date, 5, 2), digits(date, 8, 2));
}

/** `date` plus `n` days (n may be negative). */
export function addDays(date: string, n: number): string {
  return n === 0 ? date : fromDayNumber(dayNumber(date) + n);
}

/** Adds whole months, clamping the day to the end of the target month. */
function addMonthsParts(date: string, months: number): string {
  const y = digits(date, 0, 4);
  const m = digits(date, 5, 2);
  const d = digits(date, 8, 2);
  const total = y * 12 + (m - 1) + months;
  const y2 = Math.floor(total / 12);
  const m2 = total - y2 * 12 + 1;
  const dim = daysInMonth(y2, m2);
  return formatDate(y2, m2, d > dim ? dim : d);
}

/**
 * `date` plus a calendar period: years and months first, the day clamped to the end of the month
 * (2024-02-29 + 1 year = 2025-02-28, 2024-01-31 + 1 month = 2024-02-29), then the days.
 */
export function addDuration(date: string, d: Duration): string {
  const months = d.years * 12 + d.months;
  const moved = months === 0 ? date : addMonthsParts(date, months);
  return d.days === 0 ? moved : addDays(moved, d.days);
}

/**
 * `date` minus a calendar period: years and months first (day clamped to the end of the month:
 * 2024-03-31 - 1 month = 2024-02-29), then the days.
 */
export function subtractDuration(date: string, d: Duration): string {
  const months = d.years * 12 + d.months;
  const moved = months === 0 ? date : addMonthsParts(date, -months);
  return d.days === 0 ? moved : addDays(moved, -d.days);
}

/** `date` plus `n` calendar months (day clamped to the month's end). */
export function addMonths(date: string, n: number): string {
  return n === 0 ? date : addMonthsParts(date, n);
}

/**
 * The UTC calendar date of an ISO 8601 timestamp ('2024-03-01T23:30:00Z' → '2024-03-01').
 * A timestamp with no zone is taken as UTC; one with a non-zero offset is converted. A bare date
 * is returned as is.
 */
export function dayOf(ts: string): string {
  const n = ts.length;
  if (n <= 10) return ts;
  const last = ts.charCodeAt(n - 1);
  if (last === 90 /* Z */ || last === 122 /* z */) return ts.slice(0, 10);
  // After the date, only an offset has a sign ('2024-03-01T10:00:00+02:00', '... 10:00:00-05').
  let sign = ts.indexOf('+', 11);
  if (sign < 0) sign = ts.indexOf('-', 11);
  if (sign < 0) return ts.slice(0, 10);
  let zero = true;
  for (let i = sign + 1; i < n; i++) {
    const c = ts.charCodeAt(i);
    if (c !== ZERO && c !== 58 /* : */) {
      zero = false;
      break;
    }
  }
  if (zero) return ts.slice(0, 10);
  const t = Date.parse(ts);
  return Number.isNaN(t) ? ts.slice(0, 10) : new Date(t).toISOString().slice(0, 10);
}

/**
 * A DICOM DA value (`YYYYMMDD`, or the legacy ACR-NEMA `YYYY.MM.DD`) as `YYYY-MM-DD`; null when
 * absent, empty or not a valid calendar date. Trailing space padding is ignored.
 */
export function parseDicomDate(da: string | null): string | null {
  if (da === null) return null;
  let n = da.length;
  while (n > 0 && (da.charCodeAt(n - 1) === 32 || da.charCodeAt(n - 1) === 0)) n--;
  let y: number, m: number, d: number;
  if (n === 8) {
    y = digits(da, 0, 4);
    m = digits(da, 4, 2);
    d = digits(da, 6, 2);
  } else if (n === 10 && da.charCodeAt(4) === 46 && da.charCodeAt(7) === 46) {
    y = digits(da, 0, 4);
    m = digits(da, 5, 2);
    d = digits(da, 8, 2);
  } else {
    return null;
  }
  return valid(y, m, d) ? formatDate(y, m, d) : null;
}

/**
 * Age in whole years on `date` of someone born on `birthDate`. The n-th birthday is
 * `addDuration(birthDate, n years)`, so someone born on 29 February turns a year older on
 * 28 February in common years (consistent with the 'age-of-majority' anchor).
 */
export function ageOn(birthDate: string, date: string): number {
  const by = digits(birthDate, 0, 4);
  const bm = digits(birthDate, 5, 2);
  let bd = digits(birthDate, 8, 2);
  const y = digits(date, 0, 4);
  const m = digits(date, 5, 2);
  const d = digits(date, 8, 2);
  const dim = daysInMonth(y, bm);
  if (bd > dim) bd = dim;
  const age = y - by;
  return m < bm || (m === bm && d < bd) ? age - 1 : age;
}

/** Orders two `YYYY-MM-DD` dates: negative, 0 or positive. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The later of two dates. */
export function maxDate(a: string, b: string): string {
  return a >= b ? a : b;
}

/** The earlier of two dates. */
export function minDate(a: string, b: string): string {
  return a <= b ? a : b;
}
