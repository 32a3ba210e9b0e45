import { describe, expect, it } from 'vitest';
import {
  addDays,
  addDuration,
  addMonths,
  ageOn,
  compare,
  dayNumber,
  dayOf,
  fromDayNumber,
  isDate,
  parseDicomDate,
  subtractDuration,
} from './dates.js';
import { type Duration } from './policy-model.js';

const dur = (years: number, months: number, days: number): Duration => ({
  years,
  months,
  days,
  text: `${years}y${months}m${days}d`,
});

describe('addDuration', () => {
  it('adds years, months and days', () => {
    expect(addDuration('2019-04-02', dur(10, 0, 0))).toBe('2029-04-02');
    expect(addDuration('2019-04-02', dur(0, 6, 0))).toBe('2019-10-02');
    expect(addDuration('2019-04-02', dur(0, 0, 30))).toBe('2019-05-02');
    expect(addDuration('2019-11-15', dur(2, 3, 0))).toBe('2022-02-15');
    expect(addDuration('2023-12-31', dur(0, 0, 1))).toBe('2024-01-01');
  });

  it('clamps the day to the end of the month (leap days)', () => {
    expect(addDuration('2024-02-29', dur(1, 0, 0))).toBe('2025-02-28');
    expect(addDuration('2024-02-29', dur(4, 0, 0))).toBe('2028-02-29');
    expect(addDuration('2024-01-31', dur(0, 1, 0))).toBe('2024-02-29');
    expect(addDuration('2023-01-31', dur(0, 1, 0))).toBe('2023-02-28');
    expect(addDuration('2024-03-31', dur(0, 1, 0))).toBe('2024-04-30');
  });

  it('adds months and years before days', () => {
    // 2024-01-31 + 1 month = 2024-02-29, + 1 day = 2024-03-01
    expect(addDuration('2024-01-31', dur(0, 1, 1))).toBe('2024-03-01');
    expect(addDuration('2024-02-28', dur(0, 0, 1))).toBe('2024-02-29');
    expect(addDuration('2023-02-28', dur(0, 0, 1))).toBe('2023-03-01');
    expect(addDuration('2000-02-28', dur(0, 0, 1))).toBe('2000-02-29');
    expect(addDuration('1900-02-28', dur(0, 0, 1))).toBe('1900-03-01');
  });

  it('subtracts', () => {
    expect(subtractDuration('2025-02-28', dur(1, 0, 0))).toBe('2024-02-28');
    expect(subtractDuration('2024-03-31', dur(0, 1, 0))).toBe('2024-02-29');
    expect(subtractDuration('2024-03-01', dur(0, 0, 1))).toBe('2024-02-29');
    expect(subtractDuration('2024-01-15', dur(0, 0, 30))).toBe('2023-12-16');
    expect(subtractDuration('2024-01-15', dur(10, 0, 0))).toBe('2014-01-15');
  });

  it('adds months and days directly', () => {
    expect(addMonths('2024-11-30', 3)).toBe('2025-02-28');
    expect(addMonths('2024-05-31', -3)).toBe('2024-02-29');
    expect(addDays('2024-12-31', 366)).toBe('2026-01-01');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
  });
});

describe('day numbers', () => {
  it('round-trips every day over four centuries', () => {
    const start = dayNumber('1900-01-01');
    const wrong: string[] = [];
    for (let n = start; n < start + 146097; n += 1) {
      const iso = fromDayNumber(n);
      if (dayNumber(iso) !== n || iso !== new Date(n * 86_400_000).toISOString().slice(0, 10)) {
        wrong.push(iso);
      }
    }
    expect(wrong).toEqual([]);
    expect(dayNumber('1970-01-01')).toBe(0);
    expect(fromDayNumber(-1)).toBe('1969-12-31');
  });
});

describe('dayOf', () => {
  it('takes the UTC date of a timestamp', () => {
    expect(dayOf('2024-03-01T23:30:00.000Z')).toBe('2024-03-01');
    expect(dayOf('2024-03-01T23:30:00')).toBe('2024-03-01');
    expect(dayOf('2024-03-01 23:30:00.123+00')).toBe('2024-03-01');
    expect(dayOf('2024-03-01T23:30:00+00:00')).toBe('2024-03-01');
    expect(dayOf('2024-03-01')).toBe('2024-03-01');
  });

  it('converts a timestamp with an offset to UTC', () => {
    expect(dayOf('2024-03-01T23:30:00-02:00')).toBe('2024-03-02');
    expect(dayOf('2024-03-01T00:30:00+01:00')).toBe('2024-02-29');
  });
});

describe('parseDicomDate', () => {
  it('reads YYYYMMDD and legacy YYYY.MM.DD', () => {
    expect(parseDicomDate('20240229')).toBe('2024-02-29');
    expect(parseDicomDate('1999.12.31')).toBe('1999-12-31');
    expect(parseDicomDate('20240229 ')).toBe('2024-02-29');
  });

  it('rejects invalid values', () => {
    expect(parseDicomDate(null)).toBeNull();
    expect(parseDicomDate('')).toBeNull();
    expect(parseDicomDate('20230229')).toBeNull();
    expect(parseDicomDate('20241301')).toBeNull();
    expect(parseDicomDate('20240100')).toBeNull();
    expect(parseDicomDate('2024-01-01')).toBeNull();
    expect(parseDicomDate('2024010')).toBeNull();
    expect(parseDicomDate('2024O101')).toBeNull();
    expect(parseDicomDate('00000101')).toBeNull();
  });
});

describe('ageOn', () => {
  it('counts whole years', () => {
    expect(ageOn('1980-06-15', '2025-06-14')).toBe(44);
    expect(ageOn('1980-06-15', '2025-06-15')).toBe(45);
    expect(ageOn('1980-06-15', '2025-12-31')).toBe(45);
    expect(ageOn('2010-01-01', '2010-01-01')).toBe(0);
  });

  it('a 29 February birthday falls on 28 February in common years, like addDuration', () => {
    expect(ageOn('2008-02-29', '2029-02-27')).toBe(20);
    expect(ageOn('2008-02-29', '2029-02-28')).toBe(21);
    expect(addDuration('2008-02-29', dur(21, 0, 0))).toBe('2029-02-28');
    expect(ageOn('2008-02-29', '2028-02-28')).toBe(19);
    expect(ageOn('2008-02-29', '2028-02-29')).toBe(20);
  });
});

describe('compare and isDate', () => {
  it('orders dates', () => {
    expect(compare('2024-01-01', '2024-01-02')).toBe(-1);
    expect(compare('2024-01-02', '2024-01-02')).toBe(0);
    expect(compare('2025-01-01', '2024-12-31')).toBe(1);
  });

  it('validates YYYY-MM-DD', () => {
    expect(isDate('2024-02-29')).toBe(true);
    expect(isDate('2023-02-29')).toBe(false);
    expect(isDate('20240229')).toBe(false);
    expect(isDate('2024-2-29')).toBe(false);
  });
});
