import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The append function as IngestFunctions1764300001000 made it (restored by `down`). */
const APPEND_V1 = `
  CREATE OR REPLACE FUNCTION strata_audit_append(
      p_at timestamptz, p_actor text, p_actor_host text, p_role text, p_action text, p_outcome text,
      p_patient_id text, p_study_instance_uid text, p_instances integer, p_detail jsonb, p_canonical text)
    RETURNS void LANGUAGE plpgsql AS $$
  DECLARE
    prev bytea;
  BEGIN
    PERFORM pg_advisory_xact_lock(7357002);
    SELECT hash INTO prev FROM audit_events ORDER BY seq DESC LIMIT 1;
    prev := coalesce(prev, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    INSERT INTO audit_events (at, actor, actor_host, role, action, outcome, patient_id, study_instance_uid,
                              instances, detail, prev_hash, hash)
    VALUES (p_at, p_actor, p_actor_host, p_role, p_action, p_outcome, p_patient_id, p_study_instance_uid,
            p_instances, p_detail, prev, sha256(prev || convert_to(p_canonical, 'UTF8')));
  END $$;
`;

/**
 * The audit trail's tamper evidence (issue 6):
 *
 * - The chain position is part of what is hashed. A row's seq is now given by the append function
 *   under the chain lock (the head's seq + 1), so positions have no gaps (a rolled-back append
 *   leaves none: the next one takes the same number), and the hash is
 *   sha256(prev_hash || int8 big-endian seq || canonical text). A missing row is then a missing
 *   position, and a row moved to another position no longer matches its hash. Rows appended before
 *   this migration keep the old hash (no seq; the sequence could leave gaps): verification accepts
 *   that form only before the first row of the new form.
 * - The chain's time (at) is the database's clock when the row joins the chain, to the
 *   millisecond, and never earlier than the head's: one clock for every node, and times that
 *   follow positions, so a time range is a range of positions (searches and exports by time are
 *   index ranges on seq). The caller's encoding gets that time as its first element.
 * - seq has no default any more, so a row can only be appended through strata_audit_append.
 * - The append-only triggers fire ALWAYS: `SET session_replication_role = replica` (which skips
 *   ordinary triggers, for logical replication) no longer bypasses them. Disabling them still
 *   needs the table's owner or a superuser: with the embedded PostgreSQL the application connects
 *   as the cluster's superuser, so there the triggers stop the application's own mistakes, not
 *   someone holding its credentials; what exposes such a person's changes is the hash chain and
 *   the signed checkpoints. (README: running the server as a role that owns nothing.)
 * - audit_checkpoints: the chain head at a position, signed with the archive's OpenPGP key every
 *   N rows or M minutes (config audit.checkpointEvery). Rewriting the chain after a checkpoint
 *   (hashes recomputed) no longer matches it, and a checkpoint cannot be forged without the key.
 * - Indexes for the auditors' questions ("who accessed patient X's images in 2025"): each filter
 *   column with the time, replacing the single-column patient and study indexes.
 */
export class AuditTrail1764300011000 implements MigrationInterface {
  name = 'AuditTrail1764300011000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- p_at is not used any more (the chain's time is the database's, see above); the
      -- signature stays, for strata_ingest_instance and every caller.
      CREATE OR REPLACE FUNCTION strata_audit_append(
          p_at timestamptz, p_actor text, p_actor_host text, p_role text, p_action text, p_outcome text,
          p_patient_id text, p_study_instance_uid text, p_instances integer, p_detail jsonb, p_canonical text)
        RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        head record;
        v_seq bigint;
        v_at timestamptz;
        prev bytea;
        canonical text;
      BEGIN
        -- Serialises appenders across nodes until their transaction ends; the statement below
        -- takes its snapshot after the lock, so it sees the committed head.
        PERFORM pg_advisory_xact_lock(7357002);
        SELECT seq, hash, at INTO head FROM audit_events ORDER BY seq DESC LIMIT 1;
        v_seq := coalesce(head.seq, 0) + 1;
        prev := coalesce(head.hash, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
        v_at := greatest(date_trunc('milliseconds', clock_timestamp()), head.at);
        IF p_canonical !~ '^\\["\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z",' THEN
          RAISE EXCEPTION 'strata_audit_append: the canonical text must begin with the event time';
        END IF;
        -- The caller's encoding with the chain's time in place of its own (first element).
        canonical := '["' || to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                     || substr(p_canonical, 27);
        INSERT INTO audit_events (seq, at, actor, actor_host, role, action, outcome, patient_id,
                                  study_instance_uid, instances, detail, prev_hash, hash)
        VALUES (v_seq, v_at, p_actor, p_actor_host, p_role, p_action, p_outcome, p_patient_id,
                p_study_instance_uid, p_instances, p_detail, prev,
                sha256(prev || int8send(v_seq) || convert_to(canonical, 'UTF8')));
      END $$;

      -- Rows before this one were appended with the caller's time, so their times may step back
      -- by a few milliseconds; searches by time treat them row by row (AuditRepository).
      DO $$ BEGIN
        EXECUTE format('CREATE FUNCTION strata_audit_monotonic_from() RETURNS bigint LANGUAGE sql IMMUTABLE AS %L',
                       'SELECT ' || (SELECT coalesce(max(seq), 0) + 1 FROM audit_events)::text);
      END $$;

      ALTER TABLE audit_events ALTER COLUMN seq DROP DEFAULT;
      ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update;
      ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;

      CREATE TABLE audit_checkpoints (
        -- The chain position signed: the head when the checkpoint was made.
        seq bigint PRIMARY KEY,
        head_hash bytea NOT NULL,
        at timestamptz NOT NULL,
        -- Armored detached OpenPGP signature of the checkpoint text (see src/audit/trail/checkpoint.ts).
        signature text NOT NULL,
        key_fingerprint text NOT NULL
      );
      CREATE FUNCTION strata_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
      END $$;
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION strata_append_only();
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION strata_append_only();
      ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_update;
      ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

      -- Results come in chain order (seq); each filter finds its rows by value and time range,
      -- and a time range is also a range of positions (the first and last rows in it, by time).
      DROP INDEX audit_events_at;
      CREATE INDEX audit_events_at_seq ON audit_events (at, seq);
      DROP INDEX audit_events_patient;
      DROP INDEX audit_events_study;
      CREATE INDEX audit_events_patient_at ON audit_events (patient_id, at) WHERE patient_id IS NOT NULL;
      CREATE INDEX audit_events_study_at ON audit_events (study_instance_uid, at)
        WHERE study_instance_uid IS NOT NULL;
      CREATE INDEX audit_events_actor_at ON audit_events (actor, at);
      CREATE INDEX audit_events_action_at ON audit_events (action, at);
      -- Failures and warnings are few: "what was refused" reads them alone.
      CREATE INDEX audit_events_unsuccessful_at ON audit_events (outcome, at) WHERE outcome <> 'success';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX audit_events_unsuccessful_at;
      DROP INDEX audit_events_action_at;
      DROP INDEX audit_events_actor_at;
      DROP INDEX audit_events_study_at;
      DROP INDEX audit_events_patient_at;
      CREATE INDEX audit_events_patient ON audit_events (patient_id);
      CREATE INDEX audit_events_study ON audit_events (study_instance_uid);
      DROP INDEX audit_events_at_seq;
      CREATE INDEX audit_events_at ON audit_events (at);
      DROP FUNCTION strata_audit_monotonic_from();
      DROP TABLE audit_checkpoints;
      DROP FUNCTION strata_append_only();
      ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update;
      ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate;
      SELECT setval('audit_events_seq_seq', greatest((SELECT max(seq) FROM audit_events), 1));
      ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT nextval('audit_events_seq_seq');
      ${APPEND_V1}
    `);
  }
}
