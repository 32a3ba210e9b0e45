import { type Sql } from '../database/index.js';
import { type TierName } from '../config/index.js';
import { parseDicomDate } from './dates.js';
import { type StudyFacts, type StudyState } from './facts.js';

/** A study as the lifecycle reads it from the catalog: its facts and where it is in deletion. */
export interface StudyRecord {
  facts: StudyFacts;
  state: StudyState;
  /** A purge began and has not finished (it resumes). */
  purging: boolean;
}

interface Row {
  study_instance_uid: string;
  patient_fk: string;
  patient_id: string | null;
  study_date: string | null;
  received_at: Date;
  last_accessed_at: Date | null;
  patient_birth_date: string | null;
  patient_sex: string | null;
  modalities_in_study: string[];
  sop_classes_in_study: string[];
  institution_name: string | null;
  study_description: string | null;
  size_bytes: string;
  expired_at: Date | null;
  expired_by: 'retention' | 'manual' | null;
  purge_started_at: Date | null;
  body_parts: string[] | null;
  institutions: string[] | null;
  sources: string[] | null;
  calling_aets: string[] | null;
  adapters: string[] | null;
  tiers: string[] | null;
}

/**
 * One statement for the facts of many studies: the study row (patient fields are denormalised
 * onto it), its series' body parts and institutions, and its current instances' sources and tiers.
 */
const SELECT = `
  SELECT st.study_instance_uid, st.patient_fk::text, st.patient_id, st.study_date, st.received_at,
         st.last_accessed_at, st.patient_birth_date, st.patient_sex, st.modalities_in_study,
         st.sop_classes_in_study, st.institution_name, st.study_description, st.size_bytes::text,
         st.expired_at, st.expired_by, st.purge_started_at,
         s.body_parts, s.institutions, x.sources, x.calling_aets, x.adapters, x.tiers
    FROM studies st
    LEFT JOIN LATERAL (
      SELECT array_agg(DISTINCT se.body_part_examined) FILTER (WHERE se.body_part_examined IS NOT NULL) AS body_parts,
             array_agg(DISTINCT se.institution_name) FILTER (WHERE se.institution_name IS NOT NULL) AS institutions
        FROM series se WHERE se.study_fk = st.id
    ) s ON true
    LEFT JOIN LATERAL (
      SELECT array_agg(DISTINCT v.source) FILTER (WHERE v.source IS NOT NULL) AS sources,
             array_agg(DISTINCT v.calling_aet) FILTER (WHERE v.calling_aet IS NOT NULL) AS calling_aets,
             array_agg(DISTINCT v.adapter) AS adapters,
             array_agg(DISTINCT l.tier) FILTER (WHERE l.tier IS NOT NULL) AS tiers
        FROM instances i
        JOIN instance_versions v ON v.id = i.current_version_fk
        LEFT JOIN locations l ON l.blob_fk = v.blob_fk AND l.status = 'ok'
       WHERE i.study_fk = st.id
    ) x ON true`;

const TIER_ORDER: Record<string, number> = { hot: 0, warm: 1, cold: 2 };

function toRecord(r: Row): StudyRecord {
  const institutions = new Set<string>(r.institutions ?? []);
  if (r.institution_name) institutions.add(r.institution_name);
  return {
    facts: {
      studyInstanceUid: r.study_instance_uid,
      patientKey: r.patient_fk,
      patientId: r.patient_id,
      studyDate: parseDicomDate(r.study_date),
      receivedAt: r.received_at.toISOString(),
      lastAccessedAt: r.last_accessed_at?.toISOString() ?? null,
      birthDate: parseDicomDate(r.patient_birth_date),
      sex: r.patient_sex,
      modalities: r.modalities_in_study,
      bodyParts: r.body_parts ?? [],
      sopClasses: r.sop_classes_in_study,
      sources: r.sources ?? [],
      callingAets: r.calling_aets ?? [],
      adapters: r.adapters ?? [],
      institutions: [...institutions],
      studyDescription: r.study_description,
      sizeBytes: Number(r.size_bytes),
      tiers: ((r.tiers ?? []) as TierName[]).sort((a, b) => TIER_ORDER[a]! - TIER_ORDER[b]!),
    },
    state: { expiredAt: r.expired_at?.toISOString() ?? null, expiredBy: r.expired_by },
    purging: r.purge_started_at !== null,
  };
}

/** Reads what the lifecycle evaluator needs from the catalog. */
export class FactsRepository {
  /** The study and every other (not purged) study of its patient; null when it is not there. */
  async forStudy(
    db: Sql,
    studyUid: string,
  ): Promise<{ study: StudyRecord; patient: StudyRecord[] } | null> {
    const rows = await db.query<Row>(
      `${SELECT}
        WHERE st.patient_fk = (SELECT patient_fk FROM studies WHERE study_instance_uid = $1)
          AND (st.purged_at IS NULL OR st.study_instance_uid = $1)`,
      [studyUid],
    );
    const patient = rows.map(toRecord);
    const study = patient.find((s) => s.facts.studyInstanceUid === studyUid);
    return study ? { study, patient } : null;
  }

  /** The next batch of patients (by catalog id, after `afterPatient`) and all their studies. */
  async patientsAfter(
    db: Sql,
    afterPatient: string,
    limit: number,
  ): Promise<{ lastPatient: string | null; studies: StudyRecord[] }> {
    // ORDER BY patients.id, not ORDER BY id: a bare name is the output column, id::text, and a
    // text order (1, 10, 100, 11, ...) would page past patients and repeat others.
    const patients = await db.query<{ id: string }>(
      'SELECT id::text FROM patients WHERE id > $1 ORDER BY patients.id LIMIT $2',
      [afterPatient, limit],
    );
    if (patients.length === 0) return { lastPatient: null, studies: [] };
    const rows = await db.query<Row>(
      `${SELECT} WHERE st.patient_fk = ANY($1::bigint[]) AND st.purged_at IS NULL ORDER BY st.id`,
      [patients.map((p) => p.id)],
    );
    return { lastPatient: patients[patients.length - 1]!.id, studies: rows.map(toRecord) };
  }

  /** Every study of the patients with these Patient IDs (prefetch lists). */
  async forPatientIds(db: Sql, patientIds: readonly string[]): Promise<StudyRecord[]> {
    const rows = await db.query<Row>(
      `${SELECT} WHERE st.patient_id = ANY($1::text[]) AND st.purged_at IS NULL ORDER BY st.id`,
      [[...patientIds]],
    );
    return rows.map(toRecord);
  }

  async countPatients(db: Sql): Promise<number> {
    const [row] = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM patients');
    return Number(row?.n ?? 0);
  }
}
