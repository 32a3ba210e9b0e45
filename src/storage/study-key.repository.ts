import { type Sql } from '../database/index.js';

export interface StudyKeyRow {
  recipient_fingerprint: string;
  pkesk: Buffer;
  cipher_algorithm: string;
  aead_algorithm: string;
}

/** The wrapped (PKESK) forms of each study's session key, one row per recipient. */
export class StudyKeyRepository {
  constructor(private readonly db: Sql) {}

  async find(studyUid: string): Promise<StudyKeyRow[]> {
    return this.db.query<StudyKeyRow>(
      `SELECT recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm
         FROM study_keys WHERE study_instance_uid = $1`,
      [studyUid],
    );
  }

  /** Inserts the rows unless another writer created this study's key first; returns whether ours won. */
  async insertIfAbsent(studyUid: string, rows: StudyKeyRow[]): Promise<boolean> {
    if (rows.length === 0) return false;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(studyUid, r.recipient_fingerprint, r.pkesk, r.cipher_algorithm, r.aead_algorithm);
      const b = i * 5;
      return `($${b + 1}::text, $${b + 2}::text, $${b + 3}::bytea, $${b + 4}::text, $${b + 5}::text)`;
    });
    // The advisory lock on the study makes "first writer wins" hold for the whole row set.
    const result = await this.db.query<{ n: number }>(
      `WITH lock AS (SELECT pg_advisory_xact_lock(hashtext('study-key:' || $1::text))),
            existing AS (SELECT 1 FROM study_keys, lock WHERE study_instance_uid = $1::text LIMIT 1),
            ins AS (
              INSERT INTO study_keys (study_instance_uid, recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm)
              SELECT * FROM (VALUES ${tuples.join(', ')}) v(a, b, c, d, e)
               WHERE NOT EXISTS (SELECT 1 FROM existing)
              ON CONFLICT DO NOTHING RETURNING 1)
       SELECT count(*)::int AS n FROM ins`,
      values,
    );
    return (result[0]?.n ?? 0) > 0;
  }
}
