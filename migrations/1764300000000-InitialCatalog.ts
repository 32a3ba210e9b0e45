import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The spine's schema: catalog (patients → studies → series → instances → versions), content-addressed
 * blobs with their locations, per-study OpenPGP session keys, the hash-chained audit trail and API
 * tokens. Patient and study attributes are denormalised onto studies so a QIDO/C-FIND study search
 * is one statement on one table. Enums are stored as text.
 */
export class InitialCatalog1764300000000 implements MigrationInterface {
  name = 'InitialCatalog1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE patients (
        id bigserial PRIMARY KEY,
        patient_key text NOT NULL UNIQUE,
        patient_id text,
        issuer_of_patient_id text,
        patient_name text,
        patient_birth_date text,
        patient_sex text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE studies (
        id bigserial PRIMARY KEY,
        study_instance_uid text NOT NULL UNIQUE,
        patient_fk bigint NOT NULL REFERENCES patients(id),
        patient_name text,
        patient_id text,
        issuer_of_patient_id text,
        patient_birth_date text,
        patient_sex text,
        study_date text,
        study_time text,
        accession_number text,
        study_id text,
        study_description text,
        referring_physician_name text,
        institution_name text,
        specific_character_set text,
        modalities_in_study text[] NOT NULL DEFAULT '{}',
        sop_classes_in_study text[] NOT NULL DEFAULT '{}',
        number_of_series integer NOT NULL DEFAULT 0,
        number_of_instances integer NOT NULL DEFAULT 0,
        size_bytes bigint NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_accessed_at timestamptz
      );
      CREATE INDEX studies_patient_fk ON studies (patient_fk);
      CREATE INDEX studies_patient_id ON studies (patient_id);
      CREATE INDEX studies_patient_name_upper ON studies (upper(patient_name) text_pattern_ops);
      CREATE INDEX studies_study_date ON studies (study_date);
      CREATE INDEX studies_accession ON studies (accession_number);
      CREATE INDEX studies_modalities ON studies USING gin (modalities_in_study);

      CREATE TABLE series (
        id bigserial PRIMARY KEY,
        series_instance_uid text NOT NULL UNIQUE,
        study_fk bigint NOT NULL REFERENCES studies(id),
        modality text,
        series_number integer,
        series_description text,
        body_part_examined text,
        series_date text,
        series_time text,
        performed_procedure_step_start_date text,
        performed_procedure_step_start_time text,
        institution_name text,
        specific_character_set text,
        number_of_instances integer NOT NULL DEFAULT 0,
        size_bytes bigint NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX series_study_fk ON series (study_fk);
      CREATE INDEX series_modality ON series (modality);

      CREATE TABLE blobs (
        id bigserial PRIMARY KEY,
        digest bytea NOT NULL UNIQUE,
        size bigint NOT NULL,
        study_instance_uid text NOT NULL,
        ref_count integer NOT NULL DEFAULT 0 CHECK (ref_count >= 0),
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE locations (
        id bigserial PRIMARY KEY,
        blob_fk bigint NOT NULL REFERENCES blobs(id),
        backend text NOT NULL,
        key text NOT NULL,
        tier text NOT NULL,
        stored_size bigint NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        verified_at timestamptz,
        UNIQUE (backend, key)
      );
      CREATE INDEX locations_blob_fk ON locations (blob_fk);

      CREATE TABLE instances (
        id bigserial PRIMARY KEY,
        sop_instance_uid text NOT NULL UNIQUE,
        series_fk bigint NOT NULL REFERENCES series(id),
        study_fk bigint NOT NULL REFERENCES studies(id),
        sop_class_uid text NOT NULL,
        instance_number integer,
        rows integer,
        columns integer,
        number_of_frames integer,
        content_date text,
        content_time text,
        current_version_fk bigint,
        version_count integer NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX instances_series_fk ON instances (series_fk);
      CREATE INDEX instances_study_fk ON instances (study_fk);

      CREATE TABLE instance_versions (
        id bigserial PRIMARY KEY,
        instance_fk bigint NOT NULL REFERENCES instances(id),
        version integer NOT NULL,
        blob_fk bigint NOT NULL REFERENCES blobs(id),
        transfer_syntax_uid text NOT NULL,
        metadata jsonb NOT NULL,
        bulk_tag text,
        bulk_offset bigint,
        source text,
        adapter text NOT NULL,
        calling_aet text,
        remote_host text,
        received_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (instance_fk, version)
      );
      CREATE INDEX instance_versions_blob_fk ON instance_versions (blob_fk);
      ALTER TABLE instances ADD CONSTRAINT instances_current_version_fk
        FOREIGN KEY (current_version_fk) REFERENCES instance_versions(id) DEFERRABLE INITIALLY DEFERRED;

      CREATE TABLE study_keys (
        id bigserial PRIMARY KEY,
        study_instance_uid text NOT NULL,
        recipient_fingerprint text NOT NULL,
        pkesk bytea NOT NULL,
        -- v6 PKESK packets do not name the symmetric algorithms; SEIPDv2 headers do, but keeping them
        -- here lets a reader unwrap once per study without opening an object first.
        cipher_algorithm text NOT NULL,
        aead_algorithm text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (study_instance_uid, recipient_fingerprint)
      );

      CREATE TABLE audit_events (
        seq bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        actor_host text,
        role text,
        action text NOT NULL,
        outcome text NOT NULL,
        patient_id text,
        study_instance_uid text,
        instances integer,
        detail jsonb,
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL
      );
      CREATE INDEX audit_events_at ON audit_events (at);
      CREATE INDEX audit_events_patient ON audit_events (patient_id);
      CREATE INDEX audit_events_study ON audit_events (study_instance_uid);

      -- Append-only: the trail can only grow. (A later issue adds signed checkpoints and verify.)
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only';
      END $$;
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

      CREATE TABLE api_tokens (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        role text NOT NULL,
        token_hash bytea NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE api_tokens;
      DROP TABLE audit_events;
      DROP FUNCTION audit_events_append_only();
      DROP TABLE study_keys;
      ALTER TABLE instances DROP CONSTRAINT instances_current_version_fk;
      DROP TABLE instance_versions;
      DROP TABLE instances;
      DROP TABLE locations;
      DROP TABLE blobs;
      DROP TABLE series;
      DROP TABLE studies;
      DROP TABLE patients;
    `);
  }
}
