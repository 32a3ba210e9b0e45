import { describe, expect, it } from 'vitest';
import { type AuditRow } from './audit-event.js';
import { csvLine, listingWriter } from './audit-listing.js';

const row = (seq: number, over: Partial<AuditRow> = {}): AuditRow => ({
  seq,
  at: '2025-01-01T00:00:00.000Z',
  actor: 'PACS',
  actorHost: '10.0.0.1',
  role: 'pacs',
  action: 'study.retrieved',
  outcome: 'success',
  patientId: 'P1',
  studyInstanceUid: '1.2.3',
  instances: 2,
  detail: { protocol: 'WADO-RS', note: 'a "quoted", text' },
  prevHash: '00'.repeat(32),
  hash: '11'.repeat(32),
  ...over,
});

const config = { dicom: { aeTitle: 'STRATA' } };

describe('audit listings', () => {
  it('CSV: RFC 4180 quoting, and formulas shown as text', () => {
    expect(csvLine(row(1, { actor: '=HYPERLINK("x")', actorHost: null }))).toBe(
      `1,2025-01-01T00:00:00.000Z,"'=HYPERLINK(""x"")",,pacs,study.retrieved,success,P1,1.2.3,2,` +
        `"{""protocol"":""WADO-RS"",""note"":""a \\""quoted\\"", text""}",${'00'.repeat(32)},${'11'.repeat(32)}\r\n`,
    );
  });

  it('JSON pages keep the {events, next} shape; NDJSON is one row a line', () => {
    const json = listingWriter('json', config);
    const text = json.open(2) + json.rows([row(1), row(2)], true) + json.close(2);
    expect(JSON.parse(text)).toEqual({ events: [row(1), row(2)], next: 2 });
    const empty = json.open(null) + json.close(null);
    expect(JSON.parse(empty)).toEqual({ events: [], next: null });
    const nd = listingWriter('ndjson', config);
    const lines = (nd.open(null) + nd.rows([row(1)], true) + nd.rows([row(2)], false))
      .trim()
      .split('\n');
    expect(lines.map((l) => JSON.parse(l) as AuditRow)).toEqual([row(1), row(2)]);
  });
});
