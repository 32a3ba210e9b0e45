/** What happened, as the audit trail records it. */
export interface AuditEvent {
  /** Who: a calling AE title, or an API token's name. */
  actor: string;
  /** Where from: the peer's address. */
  actorHost?: string | null;
  role?: string | null;
  /** e.g. 'instance.stored', 'study.queried', 'study.retrieved', 'association.refused'. */
  action: string;
  outcome: 'success' | 'warning' | 'failure';
  patientId?: string | null;
  studyInstanceUid?: string | null;
  instances?: number | null;
  /** Free-form facts: adapter, source, reason, SOP Instance UID, query keys... */
  detail?: Record<string, unknown> | null;
}

/** An audit append as the SQL functions take it (strata_ingest_instance's second argument). */
export type AuditAppendPayload = Record<string, unknown> & { canonical: string };

export interface AuditRow extends Required<Omit<AuditEvent, 'detail'>> {
  seq: number;
  at: string;
  detail: Record<string, unknown> | null;
  prevHash: string;
  hash: string;
}

/**
 * The canonical encoding the hash chain covers: a JSON array in a fixed order, so the same row
 * always hashes the same whatever the driver or the JSON key order of `detail`.
 *
 * `detail` is first taken through JSON (what PostgreSQL stores in the jsonb column), so a value
 * JSON cannot hold as such (a Date, undefined, NaN, an object with toJSON) is encoded as it will be
 * read back: verification recomputes this encoding from the stored columns, and both must agree.
 */
export function canonicalEncoding(at: string, e: AuditEvent): string {
  const json = e.detail == null ? undefined : JSON.stringify(e.detail);
  const detail = json === undefined ? null : (JSON.parse(json) as AuditEvent['detail']);
  return canonicalOfStored(at, { ...e, detail });
}

/**
 * The same encoding for a row as stored (its `detail` already plain JSON, as the driver parsed it
 * from jsonb): what verification uses, without the JSON round trip.
 */
export function canonicalOfStored(at: string, e: AuditEvent): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify([
    at,
    e.actor,
    e.actorHost ?? null,
    e.role ?? null,
    e.action,
    e.outcome,
    e.patientId ?? null,
    e.studyInstanceUid ?? null,
    e.instances ?? null,
    sortKeys(e.detail ?? null),
  ]);
}
