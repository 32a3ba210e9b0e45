import { Injectable } from '@nestjs/common';
import { type Sql } from '../database/index.js';

/** Received bytes of profiled instances → the blob they were stored as (received_digests). */
@Injectable()
export class ReceivedDigestRepository {
  /**
   * The blob an instance with these received bytes was stored as, if a version of that instance
   * still holds it (a purged or replaced copy does not count: its blob may be gone).
   */
  async storedBlob(db: Sql, sopInstanceUid: string, received: Buffer): Promise<Buffer | null> {
    const [row] = await db.query<{ digest: Buffer }>(
      `SELECT b.digest FROM received_digests r
         JOIN blobs b ON b.digest = r.blob_digest
         JOIN instance_versions v ON v.blob_fk = b.id
         JOIN instances i ON i.id = v.instance_fk AND i.sop_instance_uid = r.sop_instance_uid
        WHERE r.sop_instance_uid = $1 AND r.received_digest = $2
        LIMIT 1`,
      [sopInstanceUid, received],
    );
    return row?.digest ?? null;
  }

  async remember(db: Sql, sopInstanceUid: string, received: Buffer, blob: Buffer): Promise<void> {
    await db.query(
      `INSERT INTO received_digests (sop_instance_uid, received_digest, blob_digest)
       VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [sopInstanceUid, received, blob],
    );
  }
}
