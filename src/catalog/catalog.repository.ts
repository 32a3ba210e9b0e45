import { type Sql } from '../database/index.js';
import { type NewInstance, type RecordResult } from './catalog-types.js';

/** Patient identity: Patient ID within its issuer (an empty ID is still one patient key per issuer). */
function patientKey(id: string | null, issuer: string | null): string {
  return `${id ?? ''}\\${issuer ?? ''}`;
}

/**
 * Writes the catalog rows for one received instance. Runs inside the ingest transaction, so the
 * catalog, the blob, its location and the audit row commit together or not at all.
 */
export class CatalogRepository {
  async recordInstance(tx: Sql, n: NewInstance): Promise<RecordResult> {
    const h = n.header;
    const a = h.attributes;

    const [patient] = await tx.query<{ id: string }>(
      `INSERT INTO patients (patient_key, patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (patient_key) DO UPDATE SET
         patient_name = coalesce(EXCLUDED.patient_name, patients.patient_name),
         patient_birth_date = coalesce(EXCLUDED.patient_birth_date, patients.patient_birth_date),
         patient_sex = coalesce(EXCLUDED.patient_sex, patients.patient_sex),
         updated_at = now()
       RETURNING id`,
      [
        patientKey(a.patientId, a.issuerOfPatientId),
        a.patientId,
        a.issuerOfPatientId,
        a.patientName,
        a.patientBirthDate,
        a.patientSex,
      ],
    );

    const [study] = await tx.query<{ id: string }>(
      `INSERT INTO studies (study_instance_uid, patient_fk, patient_name, patient_id, issuer_of_patient_id,
          patient_birth_date, patient_sex, study_date, study_time, accession_number, study_id, study_description,
          referring_physician_name, institution_name, specific_character_set)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (study_instance_uid) DO UPDATE SET
         patient_name = coalesce(EXCLUDED.patient_name, studies.patient_name),
         patient_birth_date = coalesce(EXCLUDED.patient_birth_date, studies.patient_birth_date),
         patient_sex = coalesce(EXCLUDED.patient_sex, studies.patient_sex),
         study_date = coalesce(studies.study_date, EXCLUDED.study_date),
         study_time = coalesce(studies.study_time, EXCLUDED.study_time),
         accession_number = coalesce(studies.accession_number, EXCLUDED.accession_number),
         study_id = coalesce(studies.study_id, EXCLUDED.study_id),
         study_description = coalesce(studies.study_description, EXCLUDED.study_description),
         referring_physician_name = coalesce(studies.referring_physician_name, EXCLUDED.referring_physician_name),
         institution_name = coalesce(studies.institution_name, EXCLUDED.institution_name),
         updated_at = now()
       RETURNING id`,
      [
        h.studyInstanceUid,
        patient!.id,
        a.patientName,
        a.patientId,
        a.issuerOfPatientId,
        a.patientBirthDate,
        a.patientSex,
        a.studyDate,
        a.studyTime,
        a.accessionNumber,
        a.studyId,
        a.studyDescription,
        a.referringPhysicianName,
        a.institutionName,
        h.specificCharacterSet,
      ],
    );

    const [series] = await tx.query<{ id: string; inserted: boolean }>(
      `INSERT INTO series (series_instance_uid, study_fk, modality, series_number, series_description, body_part_examined,
          series_date, series_time, performed_procedure_step_start_date, performed_procedure_step_start_time,
          institution_name, specific_character_set)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (series_instance_uid) DO UPDATE SET updated_at = now()
       RETURNING id, (xmax = 0) AS inserted`,
      [
        h.seriesInstanceUid,
        study!.id,
        a.modality,
        a.seriesNumber,
        a.seriesDescription,
        a.bodyPartExamined,
        a.seriesDate,
        a.seriesTime,
        a.performedProcedureStepStartDate,
        a.performedProcedureStepStartTime,
        a.institutionName,
        h.specificCharacterSet,
      ],
    );

    // The blob: identical bytes already stored anywhere are referenced, not stored again.
    const blobRows = await tx.query<{ id: string; inserted: boolean }>(
      `WITH ins AS (
         INSERT INTO blobs (digest, size, study_instance_uid) VALUES ($1, $2, $3)
         ON CONFLICT (digest) DO NOTHING RETURNING id, true AS inserted)
       SELECT id, inserted FROM ins
       UNION ALL SELECT id, false FROM blobs WHERE digest = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [n.blob.digest, n.blob.size, h.studyInstanceUid],
    );
    const blob = blobRows[0]!;

    const [instance] = await tx.query<{ id: string; inserted: boolean; version_count: number }>(
      `INSERT INTO instances (sop_instance_uid, series_fk, study_fk, sop_class_uid, instance_number, rows, columns,
          number_of_frames, content_date, content_time)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (sop_instance_uid) DO UPDATE SET updated_at = instances.updated_at
       RETURNING id, (xmax = 0) AS inserted, version_count`,
      [
        h.sopInstanceUid,
        series!.id,
        study!.id,
        h.sopClassUid,
        a.instanceNumber,
        a.rows,
        a.columns,
        a.numberOfFrames,
        a.contentDate,
        a.contentTime,
      ],
    );

    if (!instance!.inserted) {
      const same = await tx.query<{ version: number }>(
        `SELECT version FROM instance_versions WHERE instance_fk = $1 AND blob_fk = $2 ORDER BY version DESC LIMIT 1`,
        [instance!.id, blob.id],
      );
      if (same.length > 0) {
        return { outcome: 'duplicate', blobTaken: false, version: same[0]!.version };
      }
      if (n.duplicatePolicy !== 'keep-both') {
        if (blob.inserted) await tx.query('DELETE FROM blobs WHERE id = $1', [blob.id]);
        return {
          outcome: n.duplicatePolicy === 'reject' ? 'rejected-duplicate' : 'kept-first',
          blobTaken: false,
          version: instance!.version_count,
        };
      }
    }

    if (blob.inserted) {
      await tx.query(
        `INSERT INTO locations (blob_fk, backend, key, tier, stored_size, status, verified_at)
         VALUES ($1, $2, $3, $4, $5, 'ok', now())`,
        [
          blob.id,
          n.blob.location.backend,
          n.blob.location.key,
          n.blob.location.tier,
          n.blob.storedSize,
        ],
      );
    }
    const version = instance!.version_count + 1;
    await tx.query(
      `WITH v AS (
         INSERT INTO instance_versions (instance_fk, version, blob_fk, transfer_syntax_uid, metadata, bulk_tag, bulk_offset,
             source, adapter, calling_aet, remote_host)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id),
       i AS (
         UPDATE instances SET current_version_fk = (SELECT id FROM v), version_count = $2, updated_at = now(),
             sop_class_uid = $12, instance_number = $13, rows = $14, columns = $15, number_of_frames = $16
          WHERE id = $1)
       UPDATE blobs SET ref_count = ref_count + 1 WHERE id = $3`,
      [
        instance!.id,
        version,
        blob.id,
        h.transferSyntaxUid,
        JSON.stringify(h.metadata),
        n.bulk?.tag ?? null,
        n.bulk?.offset ?? null,
        n.source,
        n.adapter,
        n.callingAet,
        n.remoteHost,
        h.sopClassUid,
        a.instanceNumber,
        a.rows,
        a.columns,
        a.numberOfFrames,
      ],
    );

    if (instance!.inserted) {
      // Denormalised counters and sets that make a study search one statement on one table.
      await tx.query(
        `WITH s AS (
           UPDATE series SET number_of_instances = number_of_instances + 1, size_bytes = size_bytes + $3
            WHERE id = $2)
         UPDATE studies SET
           number_of_instances = number_of_instances + 1,
           number_of_series = number_of_series + $4,
           size_bytes = size_bytes + $3,
           modalities_in_study = CASE WHEN $5::text IS NULL OR $5 = ANY(modalities_in_study)
             THEN modalities_in_study ELSE array_append(modalities_in_study, $5) END,
           sop_classes_in_study = CASE WHEN $6 = ANY(sop_classes_in_study)
             THEN sop_classes_in_study ELSE array_append(sop_classes_in_study, $6) END
         WHERE id = $1`,
        [study!.id, series!.id, n.blob.size, series!.inserted ? 1 : 0, a.modality, h.sopClassUid],
      );
    } else {
      await tx.query(
        `WITH s AS (UPDATE series SET size_bytes = size_bytes + $3 WHERE id = $2)
         UPDATE studies SET size_bytes = size_bytes + $3 WHERE id = $1`,
        [study!.id, series!.id, n.blob.size],
      );
    }
    return {
      outcome: instance!.inserted ? 'stored' : 'new-version',
      blobTaken: blob.inserted,
      version,
    };
  }
}
