import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The storage server's own checksum of a stored object, when it proved at write time that it
 * stored exactly the bytes sent (an S3 ETag equal to their MD5). Fixity then checks such a copy
 * with a HEAD request instead of reading it: no transfer, no restore from an archive class.
 */
export class LocationChecksums1764300007000 implements MigrationInterface {
  name = 'LocationChecksums1764300007000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE locations ADD COLUMN checksum text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE locations DROP COLUMN checksum`);
  }
}
