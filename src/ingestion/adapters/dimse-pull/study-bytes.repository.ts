import { type Sql } from '../../../database/index.js';

/** The size of a study as the archive holds it (current versions): a C-MOVE's bytes. */
export class StudyBytesRepository {
  async of(db: Sql, studyInstanceUid: string): Promise<number> {
    const [row] = await db.query<{ bytes: string }>(
      `SELECT coalesce(sum(b.size), 0)::text AS bytes
         FROM studies s
         JOIN instances i ON i.study_fk = s.id
         JOIN instance_versions v ON v.id = i.current_version_fk
         JOIN blobs b ON b.id = v.blob_fk
        WHERE s.study_instance_uid = $1`,
      [studyInstanceUid],
    );
    return Number(row?.bytes ?? 0);
  }
}
