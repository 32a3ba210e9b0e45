import { type Sql } from '../../database/index.js';

export interface LedgerInstance {
  sopInstanceUid: string;
  studyInstanceUid: string;
  receivedAt: string;
  /** When the archive last reported this instance committed to the source, null if never. */
  committedAt: string | null;
  transactionUid: string | null;
}

export interface LedgerEvent {
  at: string;
  actor: string;
  studyInstanceUid: string | null;
  instances: number | null;
  detail: Record<string, unknown> | null;
}

export interface Ledger {
  source: string;
  from: string;
  to: string;
  summary: {
    received: number;
    committed: number;
    notCommitted: number;
    fetchedBack: number;
    refused: number;
  };
  /** Instances received from the source in the period (at most `limit`, oldest first). */
  instances: LedgerInstance[];
  /** Retrievals by the source's AE titles (C-MOVE to them, C-GET and DICOMweb by them). */
  fetchedBack: LedgerEvent[];
  /** Instances the source sent that the archive refused, and why. */
  refused: LedgerEvent[];
  /** More instances than `limit`: ask again with `after` = the last receivedAt. */
  truncated: boolean;
}

interface InstanceRow {
  sop_instance_uid: string;
  study_instance_uid: string;
  received_at: Date;
  committed_at: Date | null;
  transaction_uid: string | null;
}

interface EventRow {
  at: Date;
  actor: string;
  study_instance_uid: string | null;
  instances: number | null;
  detail: Record<string, unknown> | null;
}

const toEvent = (r: EventRow): LedgerEvent => ({
  at: r.at.toISOString(),
  actor: r.actor,
  studyInstanceUid: r.study_instance_uid,
  instances: r.instances,
  detail: r.detail,
});

/**
 * The offload ledger of one source: what it sent and when, what the archive committed to it
 * (Storage Commitment, with the time of the report), what it fetched back and what was refused.
 */
export class LedgerRepository {
  async ledger(
    db: Sql,
    q: { source: string; aeTitles: string[]; from: Date; to: Date; limit: number },
  ): Promise<Ledger> {
    const instances = await db.query<InstanceRow>(
      `SELECT i.sop_instance_uid, st.study_instance_uid, v.received_at, c.reported_at AS committed_at,
              c.transaction_uid
         FROM instance_versions v
         JOIN instances i ON i.id = v.instance_fk
         JOIN studies st ON st.id = i.study_fk
         LEFT JOIN LATERAL (
           SELECT cm.reported_at, cm.transaction_uid FROM commitment_items ci
             JOIN commitments cm ON cm.id = ci.commitment_fk
            WHERE ci.sop_instance_uid = i.sop_instance_uid AND ci.committed
              AND cm.source = $1 AND cm.reported_at IS NOT NULL
            ORDER BY cm.reported_at DESC LIMIT 1
         ) c ON true
        WHERE v.source = $1 AND v.received_at >= $2 AND v.received_at < $3
        ORDER BY v.received_at, v.id
        LIMIT $4`,
      [q.source, q.from, q.to, q.limit + 1],
    );
    const [counts] = await db.query<{ received: number; committed: number }>(
      `SELECT count(*)::int AS received,
              count(*) FILTER (WHERE EXISTS (
                SELECT 1 FROM commitment_items ci JOIN commitments cm ON cm.id = ci.commitment_fk
                 WHERE ci.sop_instance_uid = i.sop_instance_uid AND ci.committed
                   AND cm.source = $1 AND cm.reported_at IS NOT NULL))::int AS committed
         FROM instance_versions v JOIN instances i ON i.id = v.instance_fk
        WHERE v.source = $1 AND v.received_at >= $2 AND v.received_at < $3`,
      [q.source, q.from, q.to],
    );
    const fetchedBack = await db.query<EventRow>(
      `SELECT at, actor, study_instance_uid, instances, detail FROM audit_events
        WHERE action = 'study.retrieved' AND outcome <> 'failure' AND at >= $2 AND at < $3
          AND (actor = ANY($1::text[]) OR detail->>'destination' = ANY($1::text[]))
        ORDER BY seq`,
      [q.aeTitles, q.from, q.to],
    );
    const refused = await db.query<EventRow>(
      `SELECT at, actor, study_instance_uid, instances, detail FROM audit_events
        WHERE action = 'instance.stored' AND outcome = 'failure' AND at >= $2 AND at < $3
          AND detail->>'source' = $1
        ORDER BY seq`,
      [q.source, q.from, q.to],
    );
    const received = counts?.received ?? 0;
    const committed = counts?.committed ?? 0;
    return {
      source: q.source,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      summary: {
        received,
        committed,
        notCommitted: received - committed,
        fetchedBack: fetchedBack.length,
        refused: refused.length,
      },
      instances: instances.slice(0, q.limit).map((r) => ({
        sopInstanceUid: r.sop_instance_uid,
        studyInstanceUid: r.study_instance_uid,
        receivedAt: r.received_at.toISOString(),
        committedAt: r.committed_at?.toISOString() ?? null,
        transactionUid: r.transaction_uid,
      })),
      fetchedBack: fetchedBack.map(toEvent),
      refused: refused.map(toEvent),
      truncated: instances.length > q.limit,
    };
  }
}
