import { describe, expect, it } from 'vitest';
import { SearchError } from './search-types.js';
import { likePattern, parseDateRange, parseDateTimeRange, parseTimeRange } from './value-syntax.js';

describe('likePattern', () => {
  it('turns * and ? into % and _', () => {
    expect(likePattern('Doe*')).toBe('Doe%');
    expect(likePattern('D?e')).toBe('D_e');
    expect(likePattern('*a*b?')).toBe('%a%b_');
  });

  it('escapes the LIKE metacharacters % _ and \\ of the user value', () => {
    expect(likePattern('100%')).toBe('100\\%');
    expect(likePattern('a_b*')).toBe('a\\_b%');
    expect(likePattern('a\\b')).toBe('a\\\\b');
    expect(likePattern('%_*?')).toBe('\\%\\_%_');
  });
});

describe('parseDateRange (DA)', () => {
  it('single value', () => {
    expect(parseDateRange('20240115', 'StudyDate')).toEqual({
      lower: '20240115',
      upper: '20240115',
    });
  });
  it('closed range', () => {
    expect(parseDateRange('20240101-20240131', 'StudyDate')).toEqual({
      lower: '20240101',
      upper: '20240131',
    });
  });
  it('open start and open end', () => {
    expect(parseDateRange('-20240131', 'StudyDate')).toEqual({ lower: null, upper: '20240131' });
    expect(parseDateRange('20240101-', 'StudyDate')).toEqual({ lower: '20240101', upper: null });
  });
  it.each([
    '2024',
    '2024-01-01',
    '20241301',
    '20240100',
    '-',
    'abc',
    '20240101-20240102-20240103',
    '2024011',
  ])('rejects %s, naming the key', (v) => {
    expect(() => parseDateRange(v, 'StudyDate')).toThrow(SearchError);
    expect(() => parseDateRange(v, 'StudyDate')).toThrow(/StudyDate/);
  });
  it('rejects a reversed range', () => {
    expect(() => parseDateRange('20240201-20240101', 'StudyDate')).toThrow(
      /start is after its end/,
    );
  });
});

describe('parseTimeRange (TM)', () => {
  it('a single value covers the period it names', () => {
    expect(parseTimeRange('1030', 'StudyTime')).toEqual({
      lower: '103000.000000',
      upper: '103059.999999',
      wrapsMidnight: false,
    });
    expect(parseTimeRange('10', 'StudyTime')).toMatchObject({
      lower: '100000.000000',
      upper: '105959.999999',
    });
    expect(parseTimeRange('103015.5', 'StudyTime')).toMatchObject({
      lower: '103015.500000',
      upper: '103015.599999',
    });
    expect(parseTimeRange('103015.123456', 'StudyTime')).toMatchObject({
      lower: '103015.123456',
      upper: '103015.123456',
    });
  });
  it('closed and open ranges', () => {
    expect(parseTimeRange('0800-1200', 'StudyTime')).toEqual({
      lower: '080000.000000',
      upper: '120059.999999',
      wrapsMidnight: false,
    });
    expect(parseTimeRange('-0900', 'StudyTime')).toMatchObject({
      lower: null,
      upper: '090059.999999',
    });
    expect(parseTimeRange('18-', 'StudyTime')).toMatchObject({
      lower: '180000.000000',
      upper: null,
    });
  });
  it('a range whose start is after its end spans midnight', () => {
    expect(parseTimeRange('2200-0200', 'StudyTime')).toMatchObject({ wrapsMidnight: true });
  });
  it('accepts the ACR-NEMA colon form', () => {
    expect(parseTimeRange('10:30:00', 'StudyTime')).toMatchObject({ lower: '103000.000000' });
  });
  it.each([
    '2400',
    '1060',
    '1',
    '103',
    '10300',
    '1030.5',
    'noon',
    '1030-1100-1200',
    '103000.1234567',
  ])('rejects %s', (v) => {
    expect(() => parseTimeRange(v, 'StudyTime')).toThrow(SearchError);
  });
});

describe('parseDateTimeRange (DT)', () => {
  it('pads reduced precision to the whole period', () => {
    expect(parseDateTimeRange('2024', 'AcquisitionDateTime')).toEqual({
      lower: '20240101000000.000000',
      upper: '20241231235959.999999',
    });
    expect(parseDateTimeRange('20240115', 'AcquisitionDateTime')).toEqual({
      lower: '20240115000000.000000',
      upper: '20240115235959.999999',
    });
  });
  it('closed and open ranges', () => {
    expect(parseDateTimeRange('202401151030-202401151100', 'AcquisitionDateTime')).toEqual({
      lower: '20240115103000.000000',
      upper: '20240115110059.999999',
    });
    expect(parseDateTimeRange('-20240115', 'AcquisitionDateTime')).toEqual({
      lower: null,
      upper: '20240115235959.999999',
    });
    expect(parseDateTimeRange('20240115120000.5-', 'AcquisitionDateTime')).toEqual({
      lower: '20240115120000.500000',
      upper: null,
    });
  });
  it.each(['24', '20241301', '2024011510.5', '20240115+0100', 'x', '20240201-20240101'])(
    'rejects %s',
    (v) => {
      expect(() => parseDateTimeRange(v, 'AcquisitionDateTime')).toThrow(SearchError);
    },
  );
});
