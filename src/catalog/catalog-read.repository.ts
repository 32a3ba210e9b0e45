import { Injectable } from '@nestjs/common';
import { Database } from '../database/index.js';
import { type DicomJsonDataset } from './dicom-json.js';

export interface RetrievalFilter {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** Only instances of which a version was recorded under this source (a pacs token's view). */
  fromSource?: string;
}

/** Where a stored object can be read from. */
export interface StoredLocation {
  backend: string;
  key: string;
  tier: string;
}

/** One instance's current version, as retrieval needs it. */
export interface RetrievableInstance {
  /** Catalog id of the instance: the cursor for batched reads. */
  id: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  patientId: string | null;
  transferSyntaxUid: string;
  /** Plaintext size of the stored data set. */
  size: number;
  /** The tag ('GGGGEEEE') and data set offset of the element header of the bulk element, if any. */
  bulkTag: string | null;
  bulkOffset: number | null;
  /** null when no copy is readable (every location is being moved or failed its fixity check). */
  location: StoredLocation | null;
  /** Only when asked for (withMetadata): the stored header as DICOM JSON, with placeholders. */
  metadata?: DicomJsonDataset;
}

export interface RetrievalPage {
  /** Return instances with a catalog id greater than this (keyset paging). */
  afterId?: string;
  limit?: number;
  withMetadata?: boolean;
}

interface Row {
  id: string;
  study_instance_uid: string;
  series_instance_uid: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  patient_id: string | null;
  transfer_syntax_uid: string;
  size: string;
  bulk_tag: string | null;
  bulk_offset: string | null;
  backend: string | null;
  key: string | null;
  tier: string | null;
  metadata?: DicomJsonDataset;
}

/**
 * The catalog's read side for retrieval. One statement per call: instances ⋈ series ⋈ studies ⋈
 * the current version ⋈ its blob, and the best readable location of the blob (status 'ok',
 * hot before warm before cold), ordered by catalog id so that callers can page with `afterId`.
 */
@Injectable()
export class CatalogReadRepository {
  constructor(private readonly db: Database) {}

  async findInstancesForRetrieval(
    filter: RetrievalFilter,
    page: RetrievalPage = {},
  ): Promise<RetrievableInstance[]> {
    const rows = await this.db.query<Row>(
      `SELECT i.id, st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, i.sop_class_uid,
              st.patient_id, v.transfer_syntax_uid, b.size, v.bulk_tag, v.bulk_offset,
              loc.backend, loc.key, loc.tier${page.withMetadata ? ', v.metadata' : ''}
         FROM studies st
         JOIN instances i ON i.study_fk = st.id
         JOIN series se ON se.id = i.series_fk
         JOIN instance_versions v ON v.id = i.current_version_fk
         JOIN blobs b ON b.id = v.blob_fk
         LEFT JOIN LATERAL (
           SELECT l.backend, l.key, l.tier FROM locations l
            WHERE l.blob_fk = b.id AND l.status = 'ok'
            ORDER BY CASE l.tier WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 WHEN 'cold' THEN 2 ELSE 3 END, l.id
            LIMIT 1
         ) loc ON true
        WHERE st.study_instance_uid = $1
          AND st.expired_at IS NULL
          AND ($2::text IS NULL OR se.series_instance_uid = $2)
          AND ($3::text IS NULL OR i.sop_instance_uid = $3)
          AND ($4::bigint IS NULL OR i.id > $4)
          AND ($6::text IS NULL OR EXISTS (
                SELECT 1 FROM instance_versions fv WHERE fv.instance_fk = i.id AND fv.source = $6))
        ORDER BY i.id
        LIMIT $5`,
      [
        filter.studyInstanceUid,
        filter.seriesInstanceUid ?? null,
        filter.sopInstanceUid ?? null,
        page.afterId ?? null,
        page.limit ?? null,
        filter.fromSource ?? null,
      ],
    );
    return rows.map((r) => ({
      id: String(r.id),
      studyInstanceUid: r.study_instance_uid,
      seriesInstanceUid: r.series_instance_uid,
      sopInstanceUid: r.sop_instance_uid,
      sopClassUid: r.sop_class_uid,
      patientId: r.patient_id,
      transferSyntaxUid: r.transfer_syntax_uid,
      size: Number(r.size),
      bulkTag: r.bulk_tag,
      bulkOffset: r.bulk_offset === null ? null : Number(r.bulk_offset),
      location:
        r.backend !== null && r.key !== null
          ? { backend: r.backend, key: r.key, tier: r.tier ?? 'hot' }
          : null,
      ...(page.withMetadata ? { metadata: r.metadata } : {}),
    }));
  }

  /** The (not expired) studies of these patients, by Patient ID (C-MOVE/C-GET at PATIENT level). */
  async studyUidsOfPatients(patientIds: readonly string[]): Promise<string[]> {
    const rows = await this.db.query<{ study_instance_uid: string }>(
      `SELECT study_instance_uid FROM studies
        WHERE patient_id = ANY($1::text[]) AND expired_at IS NULL ORDER BY id`,
      [[...patientIds]],
    );
    return rows.map((r) => r.study_instance_uid);
  }

  /** Records that studies were read (lifecycle policies use it; reading cold can recall to hot). */
  async touchStudies(studyInstanceUids: readonly string[]): Promise<void> {
    if (studyInstanceUids.length === 0) return;
    await this.db.query(
      `UPDATE studies SET last_accessed_at = now() WHERE study_instance_uid = ANY($1::text[])`,
      [[...studyInstanceUids]],
    );
  }
}
