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
 */
export function canonicalEncoding(at: string, e: AuditEvent): string {
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
