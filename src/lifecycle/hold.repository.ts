import { type Sql } from '../database/index.js';
import { type HoldFact } from './facts.js';

export interface LegalHold extends HoldFact {
  placedBy: string;
  releasedAt: string | null;
  releasedBy: string | null;
  releaseReason: string | null;
  active: boolean;
}

export interface NewHold {
  patientId: string | null;
  studyInstanceUid: string | null;
  reason: string;
  caseReference: string | null;
  custodian: string | null;
  reviewDate: string | null;
  placedBy: string;
}

interface Row {
  id: string;
  patient_id: string | null;
  study_instance_uid: string | null;
  reason: string;
  case_reference: string | null;
  custodian: string | null;
  review_date: string | null;
  placed_by: string;
  placed_at: Date;
  released_at: Date | null;
  released_by: string | null;
  release_reason: string | null;
}

const COLUMNS = `id::text, patient_id, study_instance_uid, reason, case_reference, custodian,
  to_char(review_date, 'YYYY-MM-DD') AS review_date, placed_by, placed_at, released_at, released_by,
  release_reason`;

function toHold(r: Row): LegalHold {
  return {
    id: r.id,
    patientId: r.patient_id,
    studyInstanceUid: r.study_instance_uid,
    reason: r.reason,
    caseReference: r.case_reference,
    custodian: r.custodian,
    reviewDate: r.review_date,
    placedAt: r.placed_at.toISOString(),
    placedBy: r.placed_by,
    releasedAt: r.released_at?.toISOString() ?? null,
    releasedBy: r.released_by,
    releaseReason: r.release_reason,
    active: r.released_at === null,
  };
}

/** Legal holds: placed on a patient (every study with that Patient ID) or one study, until released. */
export class HoldRepository {
  async place(tx: Sql, hold: NewHold): Promise<LegalHold> {
    const [row] = await tx.query<Row>(
      `INSERT INTO legal_holds (patient_id, study_instance_uid, reason, case_reference, custodian,
                                review_date, placed_by)
       VALUES ($1, $2, $3, $4, $5, $6::date, $7) RETURNING ${COLUMNS}`,
      [
        hold.patientId,
        hold.studyInstanceUid,
        hold.reason,
        hold.caseReference,
        hold.custodian,
        hold.reviewDate,
        hold.placedBy,
      ],
    );
    return toHold(row!);
  }

  /** Releases an active hold; null when there is no such hold, or it was released already. */
  async release(tx: Sql, id: string, by: string, reason: string): Promise<LegalHold | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const [row] = await tx.query<Row>(
      `UPDATE legal_holds SET released_at = clock_timestamp(), released_by = $2, release_reason = $3
        WHERE id = $1 AND released_at IS NULL RETURNING ${COLUMNS}`,
      [id, by, reason],
    );
    return row ? toHold(row) : null;
  }

  async get(db: Sql, id: string): Promise<LegalHold | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM legal_holds WHERE id = $1`, [id]);
    return row ? toHold(row) : null;
  }

  async list(
    db: Sql,
    filter: { active?: boolean; patientId?: string; studyInstanceUid?: string } = {},
  ): Promise<LegalHold[]> {
    const rows = await db.query<Row>(
      `SELECT ${COLUMNS} FROM legal_holds
        WHERE ($1::boolean IS NULL OR (released_at IS NULL) = $1)
          AND ($2::text IS NULL OR patient_id = $2)
          AND ($3::text IS NULL OR study_instance_uid = $3)
        ORDER BY legal_holds.id`,
      [filter.active ?? null, filter.patientId ?? null, filter.studyInstanceUid ?? null],
    );
    return rows.map(toHold);
  }

  /** Active holds covering any of these studies or patients (one statement per batch). */
  async activeCovering(
    db: Sql,
    studyUids: readonly string[],
    patientIds: readonly string[],
  ): Promise<LegalHold[]> {
    const rows = await db.query<Row>(
      `SELECT ${COLUMNS} FROM legal_holds
        WHERE released_at IS NULL
          AND (study_instance_uid = ANY($1::text[]) OR patient_id = ANY($2::text[]))
        ORDER BY legal_holds.id`,
      [[...studyUids], [...patientIds]],
    );
    return rows.map(toHold);
  }

  /** Active holds that cover this study (by its UID or its Patient ID). */
  async activeFor(db: Sql, studyUid: string, patientId: string | null): Promise<LegalHold[]> {
    return this.activeCovering(db, [studyUid], patientId === null ? [] : [patientId]);
  }
}

/** The holds among `holds` that cover a study. */
export function holdsCovering(
  holds: readonly HoldFact[],
  studyUid: string,
  patientId: string | null,
): HoldFact[] {
  return holds.filter(
    (h) => h.studyInstanceUid === studyUid || (patientId !== null && h.patientId === patientId),
  );
}
