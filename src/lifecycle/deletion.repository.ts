import { type Sql } from '../database/index.js';

/** One stored object a purge deletes (every copy of every blob no other study references). */
export interface PurgeEntry {
  id: string;
  blobId: string;
  locationId: string;
  backend: string;
  key: string;
  tier: string;
  storedSize: number;
  /** What the backend answered: 'deleted' or 'absent' (already gone); null = not yet done. */
  confirmation: string | null;
  confirmedAt: string | null;
}

export interface StoredCertificate {
  id: string;
  studyInstanceUid: string;
  issuedAt: string;
  document: string;
  signature: string;
  signerFingerprint: string;
}

export interface StudyDeletionStatus {
  purgedAt: string | null;
  certificateId: string | null;
  expiredAt: string | null;
  expiredBy: string | null;
  expiredRule: string | null;
  expiredReason: string | null;
}

interface EntryRow {
  id: string;
  blob_fk: string;
  location_fk: string;
  backend: string;
  key: string;
  tier: string;
  stored_size: string;
  confirmation: string | null;
  confirmed_at: Date | null;
}

/**
 * Two-step deletion in the catalog: expiry (the study is hidden, kept) and purge (its objects
 * deleted through a journal that survives a crash, then its rows reduced to a tombstone).
 */
export class DeletionRepository {
  /** Marks a study expired; false when it was already expired (or is not there). */
  async expire(
    tx: Sql,
    studyUid: string,
    at: Date,
    by: 'retention' | 'manual',
    rule: string | null,
    reason: string | null = null,
  ): Promise<boolean> {
    const rows = await tx.query(
      `UPDATE studies SET expired_at = $2, expired_by = $3, expired_rule = $4, expired_reason = $5
        WHERE study_instance_uid = $1 AND expired_at IS NULL RETURNING 1`,
      [studyUid, at, by, rule, reason],
    );
    return rows.length > 0;
  }

  /**
   * Step one of a purge: records every object to delete (all copies of the study's blobs that no
   * other study's instances reference) and marks the purge as started. Idempotent.
   */
  async startPurge(tx: Sql, studyUid: string, at: Date): Promise<PurgeEntry[]> {
    await tx.query(
      `UPDATE studies SET purge_started_at = coalesce(purge_started_at, $2)
        WHERE study_instance_uid = $1`,
      [studyUid, at],
    );
    await tx.query(
      `WITH mine AS (
         SELECT v.blob_fk, count(*) AS n
           FROM studies st
           JOIN instances i ON i.study_fk = st.id
           JOIN instance_versions v ON v.instance_fk = i.id
          WHERE st.study_instance_uid = $1
          GROUP BY v.blob_fk
       )
       INSERT INTO purge_journal (study_instance_uid, blob_fk, location_fk, backend, key, tier, stored_size)
       SELECT $1, l.blob_fk, l.id, l.backend, l.key, l.tier, l.stored_size
         FROM mine JOIN blobs b ON b.id = mine.blob_fk
         JOIN locations l ON l.blob_fk = b.id
        WHERE b.ref_count <= mine.n
       ON CONFLICT (location_fk) DO NOTHING`,
      [studyUid],
    );
    return this.entries(tx, studyUid);
  }

  async entries(db: Sql, studyUid: string): Promise<PurgeEntry[]> {
    const rows = await db.query<EntryRow>(
      `SELECT id::text, blob_fk::text, location_fk::text, backend, key, tier, stored_size::text,
              confirmation, confirmed_at
         FROM purge_journal WHERE study_instance_uid = $1 ORDER BY purge_journal.id`,
      [studyUid],
    );
    return rows.map((r) => ({
      id: r.id,
      blobId: r.blob_fk,
      locationId: r.location_fk,
      backend: r.backend,
      key: r.key,
      tier: r.tier,
      storedSize: Number(r.stored_size),
      confirmation: r.confirmation,
      confirmedAt: r.confirmed_at?.toISOString() ?? null,
    }));
  }

  async confirm(db: Sql, entryId: string, confirmation: string, at: Date): Promise<void> {
    await db.query('UPDATE purge_journal SET confirmation = $2, confirmed_at = $3 WHERE id = $1', [
      entryId,
      confirmation,
      at,
    ]);
  }

  /**
   * Step two, once every journaled object is gone: reference counts decremented, the study's
   * series, instances, versions, its purged blobs and locations deleted, and the study row reduced
   * to a tombstone (its UID, when it expired and was purged, and the certificate) without patient
   * data. The patient row loses its demographics when no other study of it is left.
   */
  async finishPurge(tx: Sql, studyUid: string, at: Date, certificateId: string): Promise<void> {
    const [study] = await tx.query<{ id: string; patient_fk: string }>(
      'SELECT id::text, patient_fk::text FROM studies WHERE study_instance_uid = $1 FOR UPDATE',
      [studyUid],
    );
    if (!study) throw new Error('the study is not in the catalog');
    await tx.query(
      `UPDATE blobs b SET ref_count = greatest(b.ref_count - c.n, 0)
         FROM (SELECT v.blob_fk, count(*)::int AS n
                 FROM instances i JOIN instance_versions v ON v.instance_fk = i.id
                WHERE i.study_fk = $1 GROUP BY v.blob_fk) c
        WHERE b.id = c.blob_fk`,
      [study.id],
    );
    await tx.query(
      `DELETE FROM instance_versions WHERE instance_fk IN (SELECT id FROM instances WHERE study_fk = $1)`,
      [study.id],
    );
    await tx.query('DELETE FROM instances WHERE study_fk = $1', [study.id]);
    await tx.query('DELETE FROM series WHERE study_fk = $1', [study.id]);
    await tx.query(
      `DELETE FROM locations WHERE id IN (SELECT location_fk FROM purge_journal WHERE study_instance_uid = $1)`,
      [studyUid],
    );
    await tx.query(
      `DELETE FROM move_journal WHERE blob_fk IN (SELECT blob_fk FROM purge_journal WHERE study_instance_uid = $1)`,
      [studyUid],
    );
    await tx.query(
      `DELETE FROM blobs b WHERE b.id IN (SELECT blob_fk FROM purge_journal WHERE study_instance_uid = $1)
          AND b.ref_count = 0 AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.blob_fk = b.id)`,
      [studyUid],
    );
    await tx.query('DELETE FROM purge_journal WHERE study_instance_uid = $1', [studyUid]);
    await tx.query(
      `UPDATE studies SET purged_at = $2, deletion_certificate_fk = $3,
              patient_name = NULL, patient_id = NULL, issuer_of_patient_id = NULL,
              patient_birth_date = NULL, patient_sex = NULL, study_date = NULL, study_time = NULL,
              accession_number = NULL, study_id = NULL, study_description = NULL,
              referring_physician_name = NULL, institution_name = NULL,
              modalities_in_study = '{}', sop_classes_in_study = '{}', number_of_series = 0,
              number_of_instances = 0, size_bytes = 0, updated_at = $2
        WHERE id = $1`,
      [study.id, at, certificateId],
    );
    await tx.query(
      `UPDATE patients p SET patient_name = NULL, patient_birth_date = NULL, patient_sex = NULL
        WHERE p.id = $1
          AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient_fk = p.id AND s.purged_at IS NULL)`,
      [study.patient_fk],
    );
  }

  async saveCertificate(tx: Sql, c: Omit<StoredCertificate, 'id'>): Promise<string> {
    const [row] = await tx.query<{ id: string }>(
      `INSERT INTO deletion_certificates (study_instance_uid, issued_at, document, signature, signer_fingerprint)
       VALUES ($1, $2, $3, $4, $5) RETURNING id::text`,
      [c.studyInstanceUid, c.issuedAt, c.document, c.signature, c.signerFingerprint],
    );
    return row!.id;
  }

  async certificate(db: Sql, id: string): Promise<StoredCertificate | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const [row] = await db.query<{
      id: string;
      study_instance_uid: string;
      issued_at: Date;
      document: string;
      signature: string;
      signer_fingerprint: string;
    }>(
      `SELECT id::text, study_instance_uid, issued_at, document, signature, signer_fingerprint
         FROM deletion_certificates WHERE id = $1`,
      [id],
    );
    return row
      ? {
          id: row.id,
          studyInstanceUid: row.study_instance_uid,
          issuedAt: row.issued_at.toISOString(),
          document: row.document,
          signature: row.signature,
          signerFingerprint: row.signer_fingerprint,
        }
      : null;
  }

  /** Studies whose purge started and did not finish (a crash): the purge sweep resumes them. */
  async unfinishedPurges(db: Sql): Promise<string[]> {
    const rows = await db.query<{ study_instance_uid: string }>(
      `SELECT study_instance_uid FROM studies
        WHERE purge_started_at IS NOT NULL AND purged_at IS NULL ORDER BY id`,
    );
    return rows.map((r) => r.study_instance_uid);
  }

  /** Where a study is: null when unknown; for tombstones, the purge and its certificate. */
  async status(db: Sql, studyUid: string): Promise<StudyDeletionStatus | null> {
    const [row] = await db.query<{
      purged_at: Date | null;
      deletion_certificate_fk: string | null;
      expired_at: Date | null;
      expired_by: string | null;
      expired_rule: string | null;
      expired_reason: string | null;
    }>(
      `SELECT purged_at, deletion_certificate_fk::text, expired_at, expired_by, expired_rule,
              expired_reason
         FROM studies WHERE study_instance_uid = $1`,
      [studyUid],
    );
    return row
      ? {
          purgedAt: row.purged_at?.toISOString() ?? null,
          certificateId: row.deletion_certificate_fk,
          expiredAt: row.expired_at?.toISOString() ?? null,
          expiredBy: row.expired_by,
          expiredRule: row.expired_rule,
          expiredReason: row.expired_reason,
        }
      : null;
  }
}
