import { describe, expect, it } from 'vitest';
import { AuditQueryError, parseAuditQuery } from './audit-query.js';

describe('parseAuditQuery', () => {
  it('"who accessed patient X in 2025" is one query', () => {
    expect(
      parseAuditQuery({
        patientId: 'X',
        action: 'study.retrieved,instance.retrieved',
        from: '2025-01-01',
        to: '2026-01-01',
      }),
    ).toEqual({
      filter: {
        patientId: 'X',
        actions: ['study.retrieved', 'instance.retrieved'],
        from: '2025-01-01T00:00:00.000Z',
        to: '2026-01-01T00:00:00.000Z',
      },
      format: 'json',
      limit: 100,
    });
  });

  it('pages JSON, DICOM and FHIR; streams CSV and NDJSON whole unless limited', () => {
    expect(parseAuditQuery({ format: 'fhir', limit: '1000' }).limit).toBe(1000);
    expect(parseAuditQuery({ format: 'csv' }).limit).toBeNull();
    expect(parseAuditQuery({ format: 'ndjson', limit: '5000' }).limit).toBe(5000);
    expect(() => parseAuditQuery({ limit: '1001' })).toThrow(
      /limit must be an integer from 1 to 1000/,
    );
  });

  it('reads date-times with offsets, outcomes, roles, actors and a continuation', () => {
    expect(
      parseAuditQuery({
        from: '2025-03-01T08:00:00+02:00',
        outcome: 'failure',
        role: 'pacs',
        actor: 'CT_SOMATOM1',
        studyInstanceUid: '1.2.3',
        after: '42',
      }).filter,
    ).toEqual({
      from: '2025-03-01T06:00:00.000Z',
      outcome: 'failure',
      role: 'pacs',
      actor: 'CT_SOMATOM1',
      studyInstanceUid: '1.2.3',
      afterSeq: 42,
    });
  });

  it('refuses what it cannot honour, saying which parameter', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ patientID: 'X' }, /unknown parameter 'patientID'/],
      [{ from: '2025-13-01' }, /from is not a valid date/],
      [{ to: '2025-02-30' }, /to is not a valid date/],
      [{ from: '01/02/2025' }, /from must be an ISO 8601 date/],
      [{ to: '2025-01-01T10:00:00' }, /to must be an ISO 8601 date/],
      [{ from: '2025-02-01', to: '2025-01-01' }, /must come before/],
      [{ outcome: 'ok' }, /outcome must be success, warning or failure/],
      [{ format: 'xml' }, /format must be one of/],
      [{ after: '-1' }, /after must be an integer/],
      [{ action: 'a,,b' }, /empty name/],
      [{ actor: ['a', 'b'] }, /actor must be given once/],
      [{ actor: '' }, /actor is empty/],
    ];
    for (const [params, message] of cases) {
      expect(() => parseAuditQuery(params), JSON.stringify(params)).toThrow(AuditQueryError);
      expect(() => parseAuditQuery(params)).toThrow(message);
    }
  });
});
