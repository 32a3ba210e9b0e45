import { type Sql } from '../../database/index.js';

/** One instance a commitment request names, and what the archive found. */
export interface CommitmentCheck {
  sopClassUid: string;
  sopInstanceUid: string;
  committed: boolean;
  /** PS3.4 Table J.3-2 Failure Reason, when not committed. */
  failureReason: number | null;
}

/** No such object instance (PS3.4 J.3.2.1.1). */
export const NO_SUCH_OBJECT_INSTANCE = 0x0112;
/** Referenced SOP Class not supported: the class differs from the one stored. */
export const CLASS_INSTANCE_CONFLICT = 0x0119;

export interface NewCommitment {
  transactionUid: string;
  requestedBy: string;
  source: string;
  remoteHost: string | null;
}

/** Storage Commitment: which instances are durably stored, and the record of each request. */
export class CommitmentRepository {
  /**
   * One statement for the whole list: an instance is committed when its current version is in the
   * catalog (committed at ingest only once its object was durable) with at least one location
   * whose digest was verified and that is not marked missing or corrupt. Expired studies count
   * as stored (they are kept until purged); purged ones are gone.
   */
  async check(
    db: Sql,
    refs: readonly { sopClassUid: string; sopInstanceUid: string }[],
  ): Promise<CommitmentCheck[]> {
    if (refs.length === 0) return [];
    const rows = await db.query<{ sop_instance_uid: string; sop_class_uid: string; ok: boolean }>(
      `SELECT i.sop_instance_uid, i.sop_class_uid,
              EXISTS (SELECT 1 FROM locations l
                       WHERE l.blob_fk = v.blob_fk AND l.status = 'ok' AND l.verified_at IS NOT NULL) AS ok
         FROM instances i
         JOIN instance_versions v ON v.id = i.current_version_fk
        WHERE i.sop_instance_uid = ANY($1::text[])`,
      [refs.map((r) => r.sopInstanceUid)],
    );
    const found = new Map(rows.map((r) => [r.sop_instance_uid, r]));
    return refs.map((ref) => {
      const row = found.get(ref.sopInstanceUid);
      const failureReason = !row?.ok
        ? NO_SUCH_OBJECT_INSTANCE
        : row.sop_class_uid !== ref.sopClassUid
          ? CLASS_INSTANCE_CONFLICT
          : null;
      return { ...ref, committed: failureReason === null, failureReason };
    });
  }

  /** Records a request and its per-instance answers; returns its id. */
  async record(tx: Sql, c: NewCommitment, checks: readonly CommitmentCheck[]): Promise<string> {
    const succeeded = checks.filter((x) => x.committed).length;
    const [row] = await tx.query<{ id: string }>(
      `INSERT INTO commitments (transaction_uid, requested_by, source, remote_host, succeeded, failed)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`,
      [
        c.transactionUid,
        c.requestedBy,
        c.source,
        c.remoteHost,
        succeeded,
        checks.length - succeeded,
      ],
    );
    const id = row!.id;
    // The same instance named twice in one request is one item.
    const unique = [...new Map(checks.map((x) => [x.sopInstanceUid, x])).values()];
    await tx.query(
      `INSERT INTO commitment_items (commitment_fk, sop_instance_uid, sop_class_uid, committed, failure_reason)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::boolean[], $5::integer[])`,
      [
        id,
        unique.map((x) => x.sopInstanceUid),
        unique.map((x) => x.sopClassUid),
        unique.map((x) => x.committed),
        unique.map((x) => x.failureReason),
      ],
    );
    return id;
  }

  async reported(
    db: Sql,
    id: string,
    outcome: { via: 'same-association' | 'new-association' } | { error: string },
  ): Promise<void> {
    await db.query(
      `UPDATE commitments SET reported_at = CASE WHEN $2::text IS NULL THEN NULL ELSE clock_timestamp() END,
              report_via = $2, report_error = $3 WHERE id = $1`,
      [id, 'via' in outcome ? outcome.via : null, 'error' in outcome ? outcome.error : null],
    );
  }
}
