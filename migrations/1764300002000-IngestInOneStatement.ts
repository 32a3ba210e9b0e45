import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Records an instance and appends its audit row in one statement (so one round trip, in
 * autocommit): on one association the sender waits for every round trip. The audit row's
 * canonical encoding is computed by the caller for the outcome it expects (a new instance,
 * version 1); when the catalog says otherwise (a duplicate, a new version), the function raises
 * ST001, the statement rolls back whole, and the caller records it again in a transaction with the
 * real outcome. The audit row therefore always states what happened.
 */
export class IngestInOneStatement1764300002000 implements MigrationInterface {
  name = 'IngestInOneStatement1764300002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION strata_ingest_instance(p jsonb, a jsonb)
        RETURNS TABLE (outcome text, blob_taken boolean, version integer) LANGUAGE plpgsql AS $$
      DECLARE
        r record;
      BEGIN
        SELECT x.outcome, x.blob_taken, x.version INTO r FROM strata_record_instance(p) AS x;
        IF r.outcome IS DISTINCT FROM a->>'expectOutcome'
           OR r.version IS DISTINCT FROM (a->>'expectVersion')::integer THEN
          RAISE EXCEPTION 'the outcome differs from the one audited' USING ERRCODE = 'ST001';
        END IF;
        PERFORM strata_audit_append((a->>'at')::timestamptz, a->>'actor', a->>'actorHost', a->>'role',
          a->>'action', a->>'outcome', a->>'patientId', a->>'studyInstanceUid', (a->>'instances')::integer,
          NULLIF(a->'detail', 'null'::jsonb), a->>'canonical');
        RETURN QUERY SELECT r.outcome, r.blob_taken, r.version;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION strata_ingest_instance(jsonb, jsonb);`);
  }
}
