import { type AuditRow } from './audit-event.js';

/** The columns of audit_events as AuditRow reads them (time as ISO 8601 UTC, hashes as hex). */
export const AUDIT_ROW_COLUMNS = `seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  actor, actor_host, role, action, outcome, patient_id, study_instance_uid, instances, detail,
  encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash`;

/** One row selected with AUDIT_ROW_COLUMNS. */
export function auditRowFrom(r: Record<string, unknown>): AuditRow {
  return {
    seq: Number(r.seq),
    at: r.at as string,
    actor: r.actor as string,
    actorHost: (r.actor_host as string | null) ?? null,
    role: (r.role as string | null) ?? null,
    action: r.action as string,
    outcome: r.outcome as AuditRow['outcome'],
    patientId: (r.patient_id as string | null) ?? null,
    studyInstanceUid: (r.study_instance_uid as string | null) ?? null,
    instances: (r.instances as number | null) ?? null,
    detail: (r.detail as Record<string, unknown> | null) ?? null,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
  };
}
