/** What an auditor's search selects (every given filter must hold). */
export interface AuditFilter {
  patientId?: string;
  studyInstanceUid?: string;
  actor?: string;
  role?: string;
  /** Any of these actions. */
  actions?: string[];
  outcome?: 'success' | 'warning' | 'failure';
  /** Inclusive, ISO 8601. */
  from?: string;
  /** Exclusive, ISO 8601. */
  to?: string;
  /** Rows after this position (keyset pagination: the previous page's `next`). */
  afterSeq?: number;
  /** Rows up to this position only (an export stops at the head it started with). */
  maxSeq?: number;
}

export const AUDIT_FORMATS = ['json', 'csv', 'ndjson', 'dicom', 'fhir'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

/** Formats written whole as a stream (exports); the others come in pages. */
export const STREAMED_FORMATS: readonly AuditFormat[] = ['csv', 'ndjson'];

export interface AuditQuery {
  filter: AuditFilter;
  format: AuditFormat;
  /** Rows per page; null: every matching row (streamed formats without a limit). */
  limit: number | null;
}

/** A search that cannot run as asked; the message says which parameter and why. */
export class AuditQueryError extends Error {}

export const AUDIT_QUERY_PARAMETERS = [
  'patientId',
  'studyInstanceUid',
  'actor',
  'role',
  'action',
  'outcome',
  'from',
  'to',
  'after',
  'limit',
  'format',
] as const;

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const MAX_TEXT = 256;

/** An instant as ISO 8601 UTC: a date (midnight UTC) or a date-time with its offset. */
function instant(name: string, value: string): string {
  if (!DATE.test(value) && !DATE_TIME.test(value)) {
    throw new AuditQueryError(
      `${name} must be an ISO 8601 date (2025-01-01) or date-time with its offset (2025-01-01T08:00:00Z), not '${value}'`,
    );
  }
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(y, m - 1, d));
  const ms = Date.parse(DATE.test(value) ? `${value}T00:00:00Z` : value);
  // Date.parse takes 2025-02-30 for March 2nd: the day must exist in its month.
  if (Number.isNaN(ms) || calendar.getUTCMonth() !== m - 1 || calendar.getUTCDate() !== d) {
    throw new AuditQueryError(`${name} is not a valid date: '${value}'`);
  }
  return new Date(ms).toISOString();
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new AuditQueryError(`${name} must be an integer from ${min} to ${max}, not '${value}'`);
  }
  return n;
}

/**
 * Reads an auditor's search from query parameters (HTTP, or the CLI's options under the same
 * names). Unknown parameters are refused rather than ignored: a misspelt filter would otherwise
 * answer with everyone's events.
 */
export function parseAuditQuery(params: Record<string, unknown>): AuditQuery {
  const known = new Set<string>(AUDIT_QUERY_PARAMETERS);
  const text: Record<string, string> = {};
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    if (!known.has(key)) {
      throw new AuditQueryError(
        `unknown parameter '${key}' (known: ${AUDIT_QUERY_PARAMETERS.join(', ')})`,
      );
    }
    if (typeof raw !== 'string') throw new AuditQueryError(`${key} must be given once`);
    if (raw === '') throw new AuditQueryError(`${key} is empty`);
    if (raw.length > MAX_TEXT)
      throw new AuditQueryError(`${key} is longer than ${MAX_TEXT} characters`);
    text[key] = raw;
  }
  const format = (text.format ?? 'json') as AuditFormat;
  if (!AUDIT_FORMATS.includes(format)) {
    throw new AuditQueryError(
      `format must be one of ${AUDIT_FORMATS.join(', ')}, not '${text.format}'`,
    );
  }
  const streamed = STREAMED_FORMATS.includes(format);
  const limit =
    text.limit !== undefined
      ? integer('limit', text.limit, 1, streamed ? Number.MAX_SAFE_INTEGER : 1000)
      : streamed
        ? null
        : 100;
  const filter: AuditFilter = {};
  if (text.patientId) filter.patientId = text.patientId;
  if (text.studyInstanceUid) filter.studyInstanceUid = text.studyInstanceUid;
  if (text.actor) filter.actor = text.actor;
  if (text.role) filter.role = text.role;
  if (text.action) {
    const actions = text.action.split(',').map((a) => a.trim());
    if (actions.some((a) => a === ''))
      throw new AuditQueryError('action has an empty name in its list');
    filter.actions = [...new Set(actions)];
  }
  if (text.outcome) {
    if (!['success', 'warning', 'failure'].includes(text.outcome)) {
      throw new AuditQueryError(
        `outcome must be success, warning or failure, not '${text.outcome}'`,
      );
    }
    filter.outcome = text.outcome as AuditFilter['outcome'];
  }
  if (text.from) filter.from = instant('from', text.from);
  if (text.to) filter.to = instant('to', text.to);
  if (filter.from && filter.to && filter.from >= filter.to) {
    throw new AuditQueryError(`from (${filter.from}) must come before to (${filter.to})`);
  }
  if (text.after) filter.afterSeq = integer('after', text.after, 0, Number.MAX_SAFE_INTEGER);
  return { filter, format, limit };
}
