import { type Sql } from '../database/index.js';
import { type NewInstance, type RecordOutcome, type RecordResult } from './catalog-types.js';

/**
 * Writes the catalog rows for one received instance, in one round trip (the SQL function
 * strata_record_instance, migrations/1764300001000-IngestFunctions.ts). Runs inside the ingest
 * transaction, so the catalog, the blob, its location and the audit row commit together or not at all.
 */
export class CatalogRepository {
  async recordInstance(tx: Sql, n: NewInstance): Promise<RecordResult> {
    const h = n.header;
    const [row] = await tx.query<{ outcome: RecordOutcome; blob_taken: boolean; version: number }>(
      'SELECT outcome, blob_taken, version FROM strata_record_instance($1::jsonb)',
      [
        JSON.stringify({
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
        }),
      ],
    );
    return { outcome: row!.outcome, blobTaken: row!.blob_taken, version: row!.version };
  }
}
