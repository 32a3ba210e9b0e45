import { type Sql } from '../database/index.js';
import { AUDIT_ROW_COLUMNS, auditRowFrom } from './audit-row.js';
import {
  type AuditAppendPayload,
  type AuditEvent,
  type AuditRow,
  canonicalEncoding,
} from './audit-event.js';
import { type AuditFilter } from './audit-query.js';
import { positionsOf } from './time-bounds.js';

/** The append-only, hash-chained audit table (PostgreSQL triggers reject UPDATE and DELETE). */
export class AuditRepository {
  /**
   * The same append as a JSON object, for SQL functions that append the audit row of the change
   * they make in the same statement (strata_ingest_instance).
   */
  static payload(event: AuditEvent, at: Date = new Date()): AuditAppendPayload {
    const iso = at.toISOString();
    return {
      at: iso,
      actor: event.actor,
      actorHost: event.actorHost ?? null,
      role: event.role ?? null,
      action: event.action,
      outcome: event.outcome,
      patientId: event.patientId ?? null,
      studyInstanceUid: event.studyInstanceUid ?? null,
      instances: event.instances ?? null,
      detail: event.detail ?? null,
      canonical: canonicalEncoding(iso, event),
    };
  }

  /**
   * Appends inside the caller's transaction, so the event commits or rolls back with the change it
   * records: one round trip to strata_audit_append, which takes the chain lock and links the row.
   */
  async append(tx: Sql, event: AuditEvent, at: Date = new Date()): Promise<void> {
    const iso = at.toISOString();
    await tx.query('SELECT strata_audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
      iso,
      event.actor,
      event.actorHost ?? null,
      event.role ?? null,
      event.action,
      event.outcome,
      event.patientId ?? null,
      event.studyInstanceUid ?? null,
      event.instances ?? null,
      event.detail ? JSON.stringify(event.detail) : null,
      canonicalEncoding(iso, event),
    ]);
  }

  /**
   * Rows matching `filter`, in chain order (seq), at most `limit`. Each filter column has an index
   * with the time (AuditTrail1764300011000), so a patient's or a study's events in a period are an
   * index range; pages continue by position (`afterSeq`), never by offset.
   */
  async list(db: Sql, filter: AuditFilter & { limit: number }): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.patientId !== undefined) add('patient_id = ?', filter.patientId);
    if (filter.studyInstanceUid !== undefined)
      add('study_instance_uid = ?', filter.studyInstanceUid);
    if (filter.actor !== undefined) add('actor = ?', filter.actor);
    if (filter.role !== undefined) add('role = ?', filter.role);
    if (filter.actions?.length === 1) add('action = ?', filter.actions[0]);
    else if (filter.actions) add('action = ANY(?::text[])', filter.actions);
    if (filter.outcome !== undefined) add('outcome = ?', filter.outcome);
    if (filter.from !== undefined || filter.to !== undefined) {
      // The range's positions first (an index probe each): the search is then a range on seq,
      // which stays fast however common the other filters' values are.
      const at = (value: string) => {
        params.push(value);
        return `$${params.length}::timestamptz`;
      };
      const from = filter.from !== undefined ? at(filter.from) : null;
      const to = filter.to !== undefined ? at(filter.to) : null;
      const { lo, hi } = positionsOf(from, to);
      if (from) where.push(`at >= ${from}`, `seq >= (SELECT ${lo})`);
      if (to) where.push(`at < ${to}`, `seq <= (SELECT ${hi})`);
    }
    if (filter.afterSeq !== undefined) add('seq > ?', filter.afterSeq);
    if (filter.maxSeq !== undefined) add('seq <= ?', filter.maxSeq);
    params.push(filter.limit);
    const rows = await db.query<Record<string, unknown>>(
      `SELECT ${AUDIT_ROW_COLUMNS}
         FROM audit_events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    return rows.map(auditRowFrom);
  }

  /** The position of the last row (0 when the trail is empty). */
  async headSeq(db: Sql): Promise<number> {
    const [row] = await db.query<{ seq: string }>(
      'SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    return row ? Number(row.seq) : 0;
  }
}
