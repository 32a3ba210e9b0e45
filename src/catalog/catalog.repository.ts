import { type Sql } from '../database/index.js';
import { type NewInstance, type RecordOutcome, type RecordResult } from './catalog-types.js';

/**
 * Writes the catalog rows for one received instance, in one round trip (the SQL function
 * strata_record_instance, migrations/1764300001000-IngestFunctions.ts), either inside the caller's
 * transaction or together with its audit row in one statement (strata_ingest_instance,
 * migrations/1764300002000-IngestInOneStatement.ts): the catalog, the blob, its location and the
 * audit row commit together or not at all.
 */
/** The SQL error a chained audit raises when the outcome is not the one it was written for. */
const OUTCOME_DIFFERS = 'ST001';

export class CatalogRepository {
  async recordInstance(tx: Sql, n: NewInstance): Promise<RecordResult> {
    const [row] = await tx.query<RecordRow>(
      'SELECT outcome, blob_taken, version FROM strata_record_instance($1::jsonb)',
      [JSON.stringify(payload(n))],
    );
    return toResult(row!);
  }

  /**
   * Records a new instance and appends `audit` in one statement (strata_ingest_instance). `audit` must describe the outcome 'stored', version 1; when the
   * instance turns out not to be new, nothing is written and null is returned: the caller then
   * records it in a transaction with the audit row of what really happened.
   */
  async recordNewInstanceAudited(
    db: Sql,
    n: NewInstance,
    audit: Record<string, unknown>,
  ): Promise<RecordResult | null> {
    try {
      const [row] = await db.query<RecordRow>(
        'SELECT outcome, blob_taken, version FROM strata_ingest_instance($1::jsonb, $2::jsonb)',
        [
          JSON.stringify(payload(n)),
          JSON.stringify({ ...audit, expectOutcome: 'stored', expectVersion: 1 }),
        ],
      );
      return toResult(row!);
    } catch (error) {
      if ((error as { code?: unknown }).code === OUTCOME_DIFFERS) return null;
      throw error;
    }
  }
}

interface RecordRow {
  outcome: RecordOutcome;
  blob_taken: boolean;
  version: number;
}

function toResult(row: RecordRow): RecordResult {
  return { outcome: row.outcome, blobTaken: row.blob_taken, version: row.version };
}

/** The argument of strata_record_instance. */
function payload(n: NewInstance): Record<string, unknown> {
  const h = n.header;
  return {
    attributes: h.attributes,
    studyInstanceUid: h.studyInstanceUid,
    seriesInstanceUid: h.seriesInstanceUid,
    sopInstanceUid: h.sopInstanceUid,
    sopClassUid: h.sopClassUid,
    transferSyntaxUid: h.transferSyntaxUid,
    specificCharacterSet: h.specificCharacterSet,
    metadata: h.metadata,
    digest: n.blob.digest.toString('hex'),
    size: n.blob.size,
    storedSize: n.blob.storedSize,
    backend: n.blob.location.backend,
    key: n.blob.location.key,
    tier: n.blob.location.tier,
    bulkTag: n.bulk?.tag ?? null,
    bulkOffset: n.bulk?.offset ?? null,
    source: n.source,
    adapter: n.adapter,
    callingAet: n.callingAet,
    remoteHost: n.remoteHost,
    duplicatePolicy: n.duplicatePolicy,
  };
}
