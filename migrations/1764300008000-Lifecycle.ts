import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Lifecycle (retention, tiering, legal holds, two-step deletion):
 * - studies: where a study is in its deletion (expired = hidden from query and retrieve, kept;
 *   purged = reduced to a tombstone), and which rule or request expired it.
 * - legal_holds: a hold covers a patient (by Patient ID) or one study until released.
 * - purge_journal: the objects of a study being purged, so a purge killed half-way resumes.
 * - deletion_certificates: the signed record of each purge.
 * - schedule_leases (fixity's, extended): the last tick of each scheduled sweep that some node
 *   claimed, so that with several nodes on one database each tick runs once; paused schedules.
 * - policy_versions: the policy sets the archive has run with (a change is audited once).
 */
export class Lifecycle1764300008000 implements MigrationInterface {
  name = 'Lifecycle1764300008000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE studies
        ADD COLUMN expired_at timestamptz,
        ADD COLUMN expired_by text,
        ADD COLUMN expired_rule text,
        ADD COLUMN expired_reason text,
        ADD COLUMN purge_started_at timestamptz,
        ADD COLUMN purged_at timestamptz,
        ADD COLUMN deletion_certificate_fk bigint;
      CREATE INDEX studies_expired ON studies (expired_at) WHERE expired_at IS NOT NULL AND purged_at IS NULL;

      -- A study expired or purged takes no new instances (they would be hidden, then purged):
      -- the ingest's statement fails with this SQLSTATE and the sender is told why.
      CREATE FUNCTION strata_refuse_ingest_into_deleted_study() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the study was deleted from the archive' USING ERRCODE = 'SX001';
      END $$;
      CREATE TRIGGER studies_refuse_ingest_when_deleted BEFORE UPDATE ON studies
        FOR EACH ROW
        WHEN (OLD.expired_at IS NOT NULL
              AND (NEW.size_bytes > OLD.size_bytes OR NEW.number_of_instances > OLD.number_of_instances))
        EXECUTE FUNCTION strata_refuse_ingest_into_deleted_study();

      CREATE TABLE legal_holds (
        id bigserial PRIMARY KEY,
        patient_id text,
        study_instance_uid text,
        reason text NOT NULL,
        case_reference text,
        custodian text,
        review_date date,
        placed_by text NOT NULL,
        placed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        released_at timestamptz,
        released_by text,
        release_reason text,
        CHECK ((patient_id IS NULL) <> (study_instance_uid IS NULL))
      );
      CREATE INDEX legal_holds_active_patient ON legal_holds (patient_id) WHERE released_at IS NULL;
      CREATE INDEX legal_holds_active_study ON legal_holds (study_instance_uid) WHERE released_at IS NULL;

      CREATE TABLE purge_journal (
        id bigserial PRIMARY KEY,
        study_instance_uid text NOT NULL,
        blob_fk bigint NOT NULL,
        location_fk bigint NOT NULL,
        backend text NOT NULL,
        key text NOT NULL,
        tier text NOT NULL,
        stored_size bigint NOT NULL,
        -- What the backend said: 'deleted' (it confirmed the delete), 'absent' (already gone).
        confirmation text,
        confirmed_at timestamptz,
        UNIQUE (location_fk)
      );
      CREATE INDEX purge_journal_study ON purge_journal (study_instance_uid);

      CREATE TABLE deletion_certificates (
        id bigserial PRIMARY KEY,
        study_instance_uid text NOT NULL,
        issued_at timestamptz NOT NULL,
        -- The certificate exactly as signed (canonical JSON text), and its detached signature.
        document text NOT NULL,
        signature text NOT NULL,
        signer_fingerprint text NOT NULL
      );
      CREATE INDEX deletion_certificates_study ON deletion_certificates (study_instance_uid);

      -- Fixity's time lease (until) stays; the sweeps claim ticks (last_tick) instead.
      ALTER TABLE schedule_leases
        ALTER COLUMN until DROP NOT NULL,
        ADD COLUMN last_tick timestamptz NOT NULL DEFAULT 'epoch',
        ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        ADD COLUMN paused boolean NOT NULL DEFAULT false;

      CREATE TABLE policy_versions (
        version text PRIMARY KEY,
        files jsonb NOT NULL,
        first_loaded_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE policy_versions;
      DELETE FROM schedule_leases WHERE until IS NULL;
      ALTER TABLE schedule_leases
        ALTER COLUMN until SET NOT NULL,
        DROP COLUMN last_tick,
        DROP COLUMN claimed_at,
        DROP COLUMN paused;
      DROP TABLE deletion_certificates;
      DROP TABLE purge_journal;
      DROP TABLE legal_holds;
      DROP TRIGGER studies_refuse_ingest_when_deleted ON studies;
      DROP FUNCTION strata_refuse_ingest_into_deleted_study();
      DROP INDEX studies_expired;
      ALTER TABLE studies
        DROP COLUMN expired_at,
        DROP COLUMN expired_by,
        DROP COLUMN expired_rule,
        DROP COLUMN expired_reason,
        DROP COLUMN purge_started_at,
        DROP COLUMN purged_at,
        DROP COLUMN deletion_certificate_fk;
    `);
  }
}
