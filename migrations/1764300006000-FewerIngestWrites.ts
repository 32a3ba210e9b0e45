import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { RECORD_INSTANCE_V1 } from './1764300001000-IngestFunctions.js';

/**
 * strata_record_instance with fewer row writes for the common case, an instance of a series the
 * catalog knows: the patient row is written only when this instance brings a new value, the study
 * and series rows once each (their attributes and counters together) instead of twice, the
 * instance row once (its current version's id is taken from the sequence before the version row
 * exists: that foreign key is deferred), and a new blob is inserted with its reference counted.
 * Every PostgreSQL row write is a new tuple plus index entries, and ingest on one association
 * waits for all of them. What the function records and returns is unchanged, except that an
 * instance turned away by the duplicate policy no longer touches the study's attributes.
 */
export class FewerIngestWrites1764300006000 implements MigrationInterface {
  name = 'FewerIngestWrites1764300006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION strata_record_instance(p jsonb)
        RETURNS TABLE (outcome text, blob_taken boolean, version integer) LANGUAGE plpgsql AS $$
      #variable_conflict use_column
      DECLARE
        a jsonb := p->'attributes';
        v_patient_key text := coalesce(a->>'patientId', '') || '\\' || coalesce(a->>'issuerOfPatientId', '');
        v_patient bigint;
        v_study bigint;
        v_series bigint;
        v_series_new boolean := false;
        v_blob bigint;
        v_blob_new boolean;
        v_instance bigint;
        v_instance_new boolean;
        v_versions integer;
        v_same integer;
        v_version_id bigint := nextval('instance_versions_id_seq');
        v_size bigint := (p->>'size')::bigint;
        v_modality text := a->>'modality';
      BEGIN
        -- The patient: written only when new, or when this instance brings a value it lacks or changes.
        SELECT id INTO v_patient FROM patients t
         WHERE t.patient_key = v_patient_key
           AND (a->>'patientName' IS NULL OR a->>'patientName' = t.patient_name)
           AND (a->>'patientBirthDate' IS NULL OR a->>'patientBirthDate' = t.patient_birth_date)
           AND (a->>'patientSex' IS NULL OR a->>'patientSex' = t.patient_sex);
        IF v_patient IS NULL THEN
          INSERT INTO patients AS t (patient_key, patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
          VALUES (v_patient_key, a->>'patientId', a->>'issuerOfPatientId', a->>'patientName',
                  a->>'patientBirthDate', a->>'patientSex')
          ON CONFLICT (patient_key) DO UPDATE SET
            patient_name = coalesce(EXCLUDED.patient_name, t.patient_name),
            patient_birth_date = coalesce(EXCLUDED.patient_birth_date, t.patient_birth_date),
            patient_sex = coalesce(EXCLUDED.patient_sex, t.patient_sex),
            updated_at = now()
          RETURNING id INTO v_patient;
        END IF;

        -- A known series names its study: read, not written (both are written once, below).
        SELECT se.id, se.study_fk INTO v_series, v_study FROM series se
         WHERE se.series_instance_uid = p->>'seriesInstanceUid';
        IF v_series IS NULL THEN
          -- ON CONFLICT DO NOTHING, not DO UPDATE: no row lock here, so the only row locks an ingest
          -- takes are the study's then the series' at the end, in that order for every ingest (a
          -- lock here, before the series, would deadlock with an ingest into that series that
          -- locked it at its end and now waits for the study).
          INSERT INTO studies (study_instance_uid, patient_fk, patient_name, patient_id, issuer_of_patient_id,
              patient_birth_date, patient_sex, study_date, study_time, accession_number, study_id, study_description,
              referring_physician_name, institution_name, specific_character_set)
          VALUES (p->>'studyInstanceUid', v_patient, a->>'patientName', a->>'patientId', a->>'issuerOfPatientId',
              a->>'patientBirthDate', a->>'patientSex', a->>'studyDate', a->>'studyTime', a->>'accessionNumber',
              a->>'studyId', a->>'studyDescription', a->>'referringPhysicianName', a->>'institutionName',
              p->>'specificCharacterSet')
          ON CONFLICT (study_instance_uid) DO NOTHING
          RETURNING id INTO v_study;
          IF v_study IS NULL THEN
            SELECT id INTO v_study FROM studies WHERE study_instance_uid = p->>'studyInstanceUid';
          END IF;

          INSERT INTO series (series_instance_uid, study_fk, modality, series_number, series_description,
              body_part_examined, series_date, series_time, performed_procedure_step_start_date,
              performed_procedure_step_start_time, institution_name, specific_character_set)
          VALUES (p->>'seriesInstanceUid', v_study, v_modality, (a->>'seriesNumber')::integer, a->>'seriesDescription',
              a->>'bodyPartExamined', a->>'seriesDate', a->>'seriesTime', a->>'performedProcedureStepStartDate',
              a->>'performedProcedureStepStartTime', a->>'institutionName', p->>'specificCharacterSet')
          ON CONFLICT (series_instance_uid) DO NOTHING
          RETURNING id INTO v_series;
          v_series_new := v_series IS NOT NULL;
          IF NOT v_series_new THEN
            SELECT se.id, se.study_fk INTO v_series, v_study FROM series se
             WHERE se.series_instance_uid = p->>'seriesInstanceUid';
          END IF;
        END IF;

        -- Identical bytes already stored anywhere are referenced, not stored again.
        INSERT INTO blobs (digest, size, study_instance_uid, ref_count)
        VALUES (decode(p->>'digest', 'hex'), v_size, p->>'studyInstanceUid', 1)
        ON CONFLICT (digest) DO NOTHING
        RETURNING id INTO v_blob;
        v_blob_new := v_blob IS NOT NULL;
        IF NOT v_blob_new THEN
          SELECT id INTO v_blob FROM blobs WHERE digest = decode(p->>'digest', 'hex');
        END IF;

        INSERT INTO instances AS t (sop_instance_uid, series_fk, study_fk, sop_class_uid, instance_number, rows,
            columns, number_of_frames, content_date, content_time, current_version_fk, version_count)
        VALUES (p->>'sopInstanceUid', v_series, v_study, p->>'sopClassUid', (a->>'instanceNumber')::integer,
            (a->>'rows')::integer, (a->>'columns')::integer, (a->>'numberOfFrames')::integer,
            a->>'contentDate', a->>'contentTime', v_version_id, 1)
        ON CONFLICT (sop_instance_uid) DO UPDATE SET updated_at = t.updated_at
        RETURNING id, (t.xmax = 0), t.version_count INTO v_instance, v_instance_new, v_versions;
        IF v_instance_new THEN v_versions := 0; END IF;

        IF NOT v_instance_new THEN
          SELECT iv.version INTO v_same FROM instance_versions iv
           WHERE iv.instance_fk = v_instance AND iv.blob_fk = v_blob ORDER BY iv.version DESC LIMIT 1;
          IF v_same IS NOT NULL THEN
            RETURN QUERY SELECT 'duplicate'::text, false, v_same;
            RETURN;
          END IF;
          IF p->>'duplicatePolicy' <> 'keep-both' THEN
            IF v_blob_new THEN DELETE FROM blobs WHERE id = v_blob; END IF;
            RETURN QUERY SELECT CASE WHEN p->>'duplicatePolicy' = 'reject' THEN 'rejected-duplicate' ELSE 'kept-first' END,
                                false, v_versions;
            RETURN;
          END IF;
        END IF;

        IF v_blob_new THEN
          INSERT INTO locations (blob_fk, backend, key, tier, stored_size, status, verified_at)
          VALUES (v_blob, p->>'backend', p->>'key', p->>'tier', (p->>'storedSize')::bigint, 'ok', now());
        ELSE
          UPDATE blobs SET ref_count = ref_count + 1 WHERE id = v_blob;
        END IF;

        INSERT INTO instance_versions (id, instance_fk, version, blob_fk, transfer_syntax_uid, metadata, bulk_tag,
            bulk_offset, source, adapter, calling_aet, remote_host)
        VALUES (v_version_id, v_instance, v_versions + 1, v_blob, p->>'transferSyntaxUid', p->'metadata', p->>'bulkTag',
            (p->>'bulkOffset')::bigint, p->>'source', p->>'adapter', p->>'callingAet', p->>'remoteHost');

        IF NOT v_instance_new THEN
          UPDATE instances SET current_version_fk = v_version_id, version_count = v_versions + 1, updated_at = now(),
              sop_class_uid = p->>'sopClassUid', instance_number = (a->>'instanceNumber')::integer,
              rows = (a->>'rows')::integer, columns = (a->>'columns')::integer,
              number_of_frames = (a->>'numberOfFrames')::integer
           WHERE id = v_instance;
        END IF;

        -- The study, then the series (always in this order: see above): counters and attributes,
        -- one write each.
        UPDATE studies t SET
          patient_name = coalesce(a->>'patientName', t.patient_name),
          patient_birth_date = coalesce(a->>'patientBirthDate', t.patient_birth_date),
          patient_sex = coalesce(a->>'patientSex', t.patient_sex),
          study_date = coalesce(t.study_date, a->>'studyDate'),
          study_time = coalesce(t.study_time, a->>'studyTime'),
          accession_number = coalesce(t.accession_number, a->>'accessionNumber'),
          study_id = coalesce(t.study_id, a->>'studyId'),
          study_description = coalesce(t.study_description, a->>'studyDescription'),
          referring_physician_name = coalesce(t.referring_physician_name, a->>'referringPhysicianName'),
          institution_name = coalesce(t.institution_name, a->>'institutionName'),
          updated_at = now(),
          number_of_instances = number_of_instances + CASE WHEN v_instance_new THEN 1 ELSE 0 END,
          number_of_series = number_of_series + CASE WHEN v_series_new THEN 1 ELSE 0 END,
          size_bytes = size_bytes + v_size,
          modalities_in_study = CASE WHEN NOT v_instance_new OR v_modality IS NULL OR v_modality = ANY(modalities_in_study)
            THEN modalities_in_study ELSE array_append(modalities_in_study, v_modality) END,
          sop_classes_in_study = CASE WHEN NOT v_instance_new OR p->>'sopClassUid' = ANY(sop_classes_in_study)
            THEN sop_classes_in_study ELSE array_append(sop_classes_in_study, p->>'sopClassUid') END
         WHERE id = v_study;
        UPDATE series SET
          number_of_instances = number_of_instances + CASE WHEN v_instance_new THEN 1 ELSE 0 END,
          size_bytes = size_bytes + v_size,
          updated_at = now()
         WHERE id = v_series;

        RETURN QUERY SELECT CASE WHEN v_instance_new THEN 'stored' ELSE 'new-version' END, v_blob_new, v_versions + 1;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION strata_record_instance(jsonb); ${RECORD_INSTANCE_V1}`);
  }
}
