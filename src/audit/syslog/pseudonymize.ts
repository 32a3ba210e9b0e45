import { type AuditRow } from '../audit-event.js';

/** Maps a patient identifier to its pseudonym (a keyed hash: PseudonymKeyRepository). */
export type Pseudonymizer = (patientId: string) => string;

/**
 * Detail keys whose values are never about a patient: identifiers of the archive's own objects,
 * protocol facts, counts. Everything else (a reason typed by a user, a case reference, a folder
 * path, a query filter) may hold a name or an ID the archive cannot recognise as one, so it is
 * left out of pseudonymised output rather than guessed at.
 */
const SAFE_DETAIL_KEYS = new Set([
  'adapter',
  'association',
  'backend',
  'by',
  'calledAet',
  'certificate',
  'commitment',
  'committed',
  'completed',
  'destination',
  'failed',
  'fingerprint',
  'format',
  'hold',
  'job',
  'keys',
  'kind',
  'level',
  'limit',
  'method',
  'model',
  'objects',
  'offset',
  'outcome',
  'planned',
  'policyVersion',
  'protocol',
  'results',
  'rule',
  'samplePercent',
  'seriesInstanceUid',
  'sopClassUid',
  'sopInstanceUid',
  'source',
  'sweep',
  'tier',
  'tiers',
  'tokenId',
  'tokenRole',
  'transactionUid',
  'version',
]);

/**
 * The row as the syslog output may show it when `pseudonymize` is on: the patient ID replaced by
 * its pseudonym (the same patient always gets the same one, so an auditor with the key can still
 * follow a patient), free-text detail left out. The database keeps the real row.
 */
export function pseudonymizeRow(row: AuditRow, pseudonym: Pseudonymizer): AuditRow {
  const detail = row.detail
    ? Object.fromEntries(Object.entries(row.detail).filter(([k]) => SAFE_DETAIL_KEYS.has(k)))
    : null;
  return {
    ...row,
    patientId: row.patientId ? pseudonym(row.patientId) : null,
    detail: detail && Object.keys(detail).length > 0 ? detail : null,
  };
}
