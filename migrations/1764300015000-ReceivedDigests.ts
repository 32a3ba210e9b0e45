import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * What a vendor profile was given, for instances it changed: the HMAC of the bytes as received
 * (same secret as blob digests) and the blob they were stored as. A profiled instance sent again
 * differs from its stored copy by the time in its Original Attributes Sequence item, so its blob
 * digest cannot say "the same again"; this can.
 */
export class ReceivedDigests1764300015000 implements MigrationInterface {
  name = 'ReceivedDigests1764300015000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE received_digests (
        sop_instance_uid text NOT NULL,
        received_digest bytea NOT NULL,
        blob_digest bytea NOT NULL,
        PRIMARY KEY (sop_instance_uid, received_digest)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE received_digests');
  }
}
