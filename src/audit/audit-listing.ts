import { type AuditRow } from './audit-event.js';
import { type AuditFormat } from './audit-query.js';
import {
  type AuditSource,
  auditSourceOf,
  renderDicomAuditMessage,
  renderFhirAuditEvent,
} from './formats/index.js';

/**
 * Writes search results in each format, in pieces (open, batches of rows, close), so that the
 * HTTP API and the CLI stream the same text whatever the number of rows.
 */
export interface ListingWriter {
  contentType: string;
  /** `next`: the position to continue after (a page's last row), or null when this is the end. */
  open(next: number | null): string;
  rows(rows: AuditRow[], first: boolean): string;
  close(next: number | null): string;
}

export const CSV_COLUMNS = [
  'seq',
  'at',
  'actor',
  'actorHost',
  'role',
  'action',
  'outcome',
  'patientId',
  'studyInstanceUid',
  'instances',
  'detail',
  'prevHash',
  'hash',
] as const;

/**
 * One CSV field (RFC 4180). A text starting with = + - @ or a tab is prefixed with ' so that a
 * spreadsheet shows it instead of evaluating it: an actor or a calling AE title is text a peer
 * chose. NDJSON is the exact export.
 */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(row: AuditRow): string {
  return `${CSV_COLUMNS.map((c) => csvField(row[c])).join(',')}\r\n`;
}

/** The DICOM audit message of a row without its XML declaration, to sit inside a list. */
function dicomElement(row: AuditRow, source: AuditSource): string {
  return renderDicomAuditMessage(row, source).replace(/^\s*<\?xml[^>]*\?>\s*/, '');
}

export function listingWriter(
  format: AuditFormat,
  /** The configuration naming the archive (the audit source of DICOM and FHIR renderings). */
  config: { dicom: { aeTitle: string } },
  /** The URL of the next page (FHIR Bundle links), when there is one. */
  nextUrl: (after: number) => string | null = () => null,
): ListingWriter {
  const source = auditSourceOf(config);
  switch (format) {
    case 'csv':
      return {
        contentType: 'text/csv; charset=utf-8',
        open: () => `${CSV_COLUMNS.join(',')}\r\n`,
        rows: (rows) => rows.map(csvLine).join(''),
        close: () => '',
      };
    case 'ndjson':
      return {
        contentType: 'application/x-ndjson',
        open: () => '',
        rows: (rows) => rows.map((r) => `${JSON.stringify(r)}\n`).join(''),
        close: () => '',
      };
    case 'dicom':
      // Several PS3.15 AuditMessage documents in one: a list element around them (the standard
      // defines the message, not a collection), the next page in an attribute.
      return {
        contentType: 'application/xml; charset=utf-8',
        open: (next) =>
          `<?xml version="1.0" encoding="UTF-8"?>\n<AuditMessages${next === null ? '' : ` next="${next}"`}>\n`,
        rows: (rows) => rows.map((r) => `${dicomElement(r, source)}\n`).join(''),
        close: () => '</AuditMessages>\n',
      };
    case 'fhir':
      // A FHIR searchset Bundle of AuditEvent resources; the next page as its 'next' link.
      return {
        contentType: 'application/fhir+json; charset=utf-8',
        open: (next) => {
          const url = next === null ? null : nextUrl(next);
          const link = url ? `"link":[{"relation":"next","url":${JSON.stringify(url)}}],` : '';
          return `{"resourceType":"Bundle","type":"searchset",${link}"entry":[`;
        },
        rows: (rows, first) =>
          (first ? '' : ',') +
          rows.map((r) => JSON.stringify({ resource: renderFhirAuditEvent(r, source) })).join(','),
        close: () => ']}\n',
      };
    default:
      return {
        contentType: 'application/json; charset=utf-8',
        open: () => '{"events":[',
        rows: (rows, first) => (first ? '' : ',') + rows.map((r) => JSON.stringify(r)).join(','),
        close: (next) => `],"next":${next === null ? 'null' : next}}`,
      };
  }
}
