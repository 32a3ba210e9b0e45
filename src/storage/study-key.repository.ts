import { type Database, type Sql } from '../database/index.js';

export interface StudyKeyRow {
  recipient_fingerprint: string;
  pkesk: Buffer;
  cipher_algorithm: string;
  aead_algorithm: string;
}

/** The wrapped (PKESK) forms of each study's session key, one row per recipient. */
export class StudyKeyRepository {
  constructor(private readonly db: Database) {}

  async find(studyUid: string): Promise<StudyKeyRow[]> {
    return this.db.query<StudyKeyRow>(
      `SELECT recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm
         FROM study_keys WHERE study_instance_uid = $1`,
      [studyUid],
    );
  }

  /**
   * Crypto-shredding: deletes every wrapped form of the study's session key, inside the caller's
   * transaction (a purge). Every copy of the study's objects, anywhere, is unreadable afterwards.
   */
  async shred(tx: Sql, studyUid: string): Promise<number> {
    const rows = await tx.query<{ n: number }>(
      `WITH d AS (DELETE FROM study_keys WHERE study_instance_uid = $1 RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [studyUid],
    );
    return rows[0]?.n ?? 0;
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

  async countStudies(): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      'SELECT count(DISTINCT study_instance_uid)::int AS n FROM study_keys',
    );
    return row?.n ?? 0;
  }

  /** Every row of the next `limit` studies after `after` in UID order (a resumable scan). */
  async studiesAfter(after: string, limit: number): Promise<Map<string, StudyKeyRow[]>> {
    return this.grouped(
      await this.db.query<StudyKeyRow & { study_instance_uid: string }>(
        `WITH s AS (SELECT DISTINCT study_instance_uid FROM study_keys
                     WHERE study_instance_uid > $1 ORDER BY 1 LIMIT $2)
         SELECT k.study_instance_uid, k.recipient_fingerprint, k.pkesk, k.cipher_algorithm,
                k.aead_algorithm
           FROM study_keys k JOIN s USING (study_instance_uid) ORDER BY 1`,
        [after, limit],
      ),
    );
  }

  /** Every row of up to `limit` studies that lack a PKESK for one of `fingerprints`. */
  async studiesMissing(fingerprints: string[], limit: number): Promise<Map<string, StudyKeyRow[]>> {
    return this.grouped(
      await this.db.query<StudyKeyRow & { study_instance_uid: string }>(
        `WITH s AS (
           SELECT DISTINCT k.study_instance_uid FROM study_keys k CROSS JOIN unnest($1::text[]) f(fp)
            WHERE NOT EXISTS (SELECT 1 FROM study_keys o
                               WHERE o.study_instance_uid = k.study_instance_uid
                                 AND o.recipient_fingerprint = f.fp)
            ORDER BY 1 LIMIT $2)
         SELECT k.study_instance_uid, k.recipient_fingerprint, k.pkesk, k.cipher_algorithm,
                k.aead_algorithm
           FROM study_keys k JOIN s USING (study_instance_uid) ORDER BY 1`,
        [fingerprints, limit],
      ),
    );
  }

  /**
   * Adds re-wrapped rows in one transaction. A study whose key rows are gone (deleted, shredded)
   * since they were read gets none back: each study is locked as when its key was created, and
   * rows are added only where the study still has some.
   */
  async addRows(entries: { studyUid: string; row: StudyKeyRow }[]): Promise<number> {
    if (entries.length === 0) return 0;
    const uids = [...new Set(entries.map((e) => e.studyUid))].sort();
    return this.db.transaction(async (tx) => {
      await tx.query(
        `SELECT pg_advisory_xact_lock(hashtext('study-key:' || u)) FROM unnest($1::text[]) u ORDER BY u`,
        [uids],
      );
      const added = await tx.query(
        `INSERT INTO study_keys (study_instance_uid, recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm)
         SELECT v.uid, v.fp, v.pkesk, v.cipher, v.aead
           FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[])
                  AS v(uid, fp, pkesk, cipher, aead)
          WHERE EXISTS (SELECT 1 FROM study_keys k WHERE k.study_instance_uid = v.uid)
         ON CONFLICT DO NOTHING RETURNING 1`,
        [
          entries.map((e) => e.studyUid),
          entries.map((e) => e.row.recipient_fingerprint),
          entries.map((e) => e.row.pkesk),
          entries.map((e) => e.row.cipher_algorithm),
          entries.map((e) => e.row.aead_algorithm),
        ],
      );
      return added.length;
    });
  }

  private grouped(
    rows: (StudyKeyRow & { study_instance_uid: string })[],
  ): Map<string, StudyKeyRow[]> {
    const out = new Map<string, StudyKeyRow[]>();
    for (const { study_instance_uid: uid, ...row } of rows) {
      const list = out.get(uid) ?? [];
      list.push(row);
      out.set(uid, list);
    }
    return out;
  }
}
