import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * PACS integration: Storage Commitment (push model) requests and what the archive answered for
 * each instance (the offload ledger shows a sending PACS what was committed, when, so it can prove
 * what is safe to delete on its side), and the checkpoints of pull sources.
 */
export class StorageCommitment1764300009000 implements MigrationInterface {
  name = 'StorageCommitment1764300009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE commitments (
        id bigserial PRIMARY KEY,
        transaction_uid text NOT NULL,
        requested_by text NOT NULL,
        source text NOT NULL,
        remote_host text,
        requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        succeeded integer NOT NULL,
        failed integer NOT NULL,
        -- How the N-EVENT-REPORT went: 'same-association', 'new-association', or null while pending
        -- or when it could not be delivered (report_error says why).
        reported_at timestamptz,
        report_via text,
        report_error text
      );
      CREATE INDEX commitments_source ON commitments (source, requested_at);
      CREATE TABLE commitment_items (
        commitment_fk bigint NOT NULL REFERENCES commitments(id),
        sop_instance_uid text NOT NULL,
        sop_class_uid text NOT NULL,
        committed boolean NOT NULL,
        -- PS3.4 J.3.2.1.1 Failure Reason when not committed (0x0112 no such object instance...).
        failure_reason integer,
        PRIMARY KEY (commitment_fk, sop_instance_uid)
      );
      CREATE INDEX commitment_items_instance ON commitment_items (sop_instance_uid) WHERE committed;
      CREATE INDEX instance_versions_source ON instance_versions (source, received_at);
      -- Where each pull source (an Orthanc change feed, a DICOMweb or DIMSE query) got to: a
      -- stopped or failed pull goes on from here, and a second run fetches nothing new.
      CREATE TABLE pull_checkpoints (
        source text PRIMARY KEY,
        adapter text NOT NULL,
        cursor jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE pull_checkpoints;
      DROP INDEX instance_versions_source;
      DROP TABLE commitment_items;
      DROP TABLE commitments;
    `);
  }
}
