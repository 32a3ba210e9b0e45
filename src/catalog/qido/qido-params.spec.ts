import { describe, expect, it } from 'vitest';
import { parseQidoParams, QIDO_DEFAULT_LIMIT, QIDO_MAX_LIMIT } from './qido-params.js';
import { SearchError } from './search-types.js';

const parse = (query: string, level: 'study' | 'series' | 'instance' = 'study') =>
  parseQidoParams(level, {}, new URLSearchParams(query));

const UID1 = '1.2.3.4';
const UID2 = '1.2.3.5';
const UID3 = '1.2.3.6';

describe('parseQidoParams', () => {
  it('defaults: limit 100, offset 0, no keys', () => {
    const p = parse('');
    expect(p.request).toEqual({
      level: 'study',
      scope: {},
      keys: [],
      includeFields: [],
      limit: QIDO_DEFAULT_LIMIT,
      offset: 0,
    });
    expect(p.serverLimited).toBe(true);
    expect(p.warnings).toEqual([]);
  });

  it('keeps matching keys as given, empty values included', () => {
    expect(parse('PatientName=Doe*&00100020=&StudyDate=20240101-').request.keys).toEqual([
      { key: 'PatientName', value: 'Doe*' },
      { key: '00100020', value: '' },
      { key: 'StudyDate', value: '20240101-' },
    ]);
  });

  it('UID lists: repeated parameters, commas and backslashes', () => {
    expect(parse(`StudyInstanceUID=${UID1}&StudyInstanceUID=${UID2},${UID3}`).request.keys).toEqual(
      [{ key: 'StudyInstanceUID', value: `${UID1}\\${UID2}\\${UID3}` }],
    );
    expect(parse(`0020000D=${UID1}%5C${UID2}`).request.keys).toEqual([
      { key: '0020000D', value: `${UID1}\\${UID2}` },
    ]);
  });

  it('other repeated keys are an error naming the key', () => {
    expect(() => parse('PatientID=a&PatientID=b')).toThrow(
      'the PatientID parameter is given more than once',
    );
  });

  it('limit within bounds, reduced to the maximum with a warning, invalid rejected', () => {
    const ten = parse('limit=10');
    expect(ten.request.limit).toBe(10);
    expect(ten.serverLimited).toBe(false);
    const huge = parse('limit=5000');
    expect(huge.request.limit).toBe(QIDO_MAX_LIMIT);
    expect(huge.serverLimited).toBe(true);
    expect(huge.warnings).toEqual(['limit reduced to 1000, the maximum of this server']);
    for (const bad of ['0', '-1', 'ten', '1.5', ''])
      expect(() => parse(`limit=${bad}`)).toThrow(SearchError);
    expect(() => parse('limit=1&limit=2')).toThrow(/more than once/);
  });

  it('offset', () => {
    expect(parse('offset=30').request.offset).toBe(30);
    for (const bad of ['-1', 'x', '99999999999'])
      expect(() => parse(`offset=${bad}`)).toThrow(/offset/);
  });

  it('includefield: repeatable, comma lists, all', () => {
    expect(
      parse('includefield=00081030,Manufacturer&includefield=StudyID').request.includeFields,
    ).toEqual(['00081030', 'Manufacturer', 'StudyID']);
    expect(parse('includefield=StudyID&includefield=all').request.includeFields).toBe('all');
  });

  it('fuzzymatching=true is accepted, not applied, and warned about', () => {
    expect(parse('fuzzymatching=true').warnings).toEqual(['fuzzymatching not supported']);
    expect(parse('fuzzymatching=false').warnings).toEqual([]);
    expect(() => parse('fuzzymatching=maybe')).toThrow(/fuzzymatching/);
  });

  it('passes the scope through', () => {
    expect(parseQidoParams('series', { studyInstanceUid: UID1 }, []).request.scope).toEqual({
      studyInstanceUid: UID1,
    });
  });
});
