import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The archive's key ring in the catalog: every OpenPGP recipient a study session key is wrapped
 * for (archive keys, whose private halves live in the key folder, and escrow keys, public only),
 * active or retired. New study keys are wrapped for every active recipient; a rotation or a new
 * escrow recipient re-wraps existing study keys (adds study_keys rows) without touching objects.
 */
export class KeyRing1764300005000 implements MigrationInterface {
  name = 'KeyRing1764300005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE key_recipients (
        fingerprint text PRIMARY KEY,
        role text NOT NULL CHECK (role IN ('archive', 'escrow')),
        status text NOT NULL CHECK (status IN ('active', 'retired')),
        -- The armored public key, so that every node wraps new study keys for the same set.
        public_key text NOT NULL,
        label text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        retired_at timestamptz
      );
      -- Coverage counts per recipient, and retiring one (deleting its rows).
      CREATE INDEX study_keys_recipient ON study_keys (recipient_fingerprint, study_instance_uid);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX study_keys_recipient;
      DROP TABLE key_recipients;
    `);
  }
}
