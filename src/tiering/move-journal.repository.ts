import { type Sql } from '../database/index.js';

/**
 * How far the move of one blob got. Each step is committed before the next begins:
 * planned (the new key is recorded, nothing written yet) → copied (the copy is complete but must
 * be read back to be verified: a server that gave no checksum proof) → removed (verified: the new
 * location added and the old ones removed from the catalog, in one commit) → done (the old objects
 * are deleted). 'added' (new location recorded, old ones still listed) is where a move starts when
 * a copy on the target tier already exists, and where journals written by earlier versions may be.
 * Or failed, with the old copy untouched.
 */
export type MoveStep = 'planned' | 'copied' | 'added' | 'removed' | 'done' | 'failed';

export interface MoveEntry {
  id: string;
  jobId: string;
  blobId: string;
  fromLocationId: string;
  from: { backend: string; key: string };
  to: { backend: string; key: string; tier: string };
  storedSize: number;
  step: MoveStep;
  /** The old copies removed from the catalog (set at step 'removed'). */
  removed: { backend: string; key: string }[];
}

interface Row {
  id: string;
  job_fk: string;
  blob_fk: string;
  from_location_fk: string;
  from_backend: string;
  from_key: string;
  to_backend: string;
  to_key: string;
  to_tier: string;
  stored_size: string;
  step: MoveStep;
  removed: { backend: string; key: string }[] | null;
}

function toEntry(r: Row): MoveEntry {
  return {
    id: String(r.id),
    jobId: String(r.job_fk),
    blobId: String(r.blob_fk),
    fromLocationId: String(r.from_location_fk),
    from: { backend: r.from_backend, key: r.from_key },
    to: { backend: r.to_backend, key: r.to_key, tier: r.to_tier },
    storedSize: Number(r.stored_size),
    step: r.step,
    removed: r.removed ?? [],
  };
}

export class MoveJournalRepository {
  constructor(private readonly db: Sql) {}

  /** Records the plan for one blob; an existing entry of the same job and blob is returned as is. */
  async plan(
    e: Omit<MoveEntry, 'id' | 'step' | 'removed'>,
    step: MoveStep = 'planned',
  ): Promise<MoveEntry> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO move_journal (job_fk, blob_fk, from_location_fk, from_backend, from_key, to_backend,
                                 to_key, to_tier, stored_size, step)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (job_fk, blob_fk) DO UPDATE SET updated_at = move_journal.updated_at
       RETURNING *`,
      [
        e.jobId,
        e.blobId,
        e.fromLocationId,
        e.from.backend,
        e.from.key,
        e.to.backend,
        e.to.key,
        e.to.tier,
        e.storedSize,
        step,
      ],
    );
    return toEntry(row!);
  }

  /**
   * Records the plans of several blobs in one commit (one statement); entries of the same job and
   * blob that exist are returned as they are. Keyed by blob id.
   */
  async planMany(
    entries: (Omit<MoveEntry, 'id' | 'step' | 'removed'> & { step: MoveStep })[],
  ): Promise<Map<string, MoveEntry>> {
    if (entries.length === 0) return new Map();
    const rows = await this.db.query<Row>(
      `INSERT INTO move_journal (job_fk, blob_fk, from_location_fk, from_backend, from_key, to_backend,
                                 to_key, to_tier, stored_size, step)
       SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[],
                                        $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[])
       ON CONFLICT (job_fk, blob_fk) DO UPDATE SET updated_at = move_journal.updated_at
       RETURNING *`,
      [
        entries[0]!.jobId,
        entries.map((e) => e.blobId),
        entries.map((e) => e.fromLocationId),
        entries.map((e) => e.from.backend),
        entries.map((e) => e.from.key),
        entries.map((e) => e.to.backend),
        entries.map((e) => e.to.key),
        entries.map((e) => e.to.tier),
        entries.map((e) => e.storedSize),
        entries.map((e) => e.step),
      ],
    );
    return new Map(rows.map((r) => [String(r.blob_fk), toEntry(r)]));
  }

  /**
   * In one statement (so one commit): the verified copy's location is added, the blob's other
   * locations are removed from the catalog, and the entry goes to 'removed' naming them. Returns
   * the removed locations, whose objects are deleted next.
   */
  async switchLocations(
    entry: MoveEntry,
    checksum: string | null,
  ): Promise<{ backend: string; key: string }[]> {
    return this.db.query<{ backend: string; key: string }>(
      `WITH added AS (
         INSERT INTO locations (blob_fk, backend, key, tier, stored_size, status, verified_at, checksum)
         VALUES ($1, $2, $3, $4, $5, 'ok', now(), $7) ON CONFLICT (backend, key) DO NOTHING),
       gone AS (
         DELETE FROM locations WHERE blob_fk = $1 AND NOT (backend = $2 AND key = $3)
         RETURNING backend, key),
       journal AS (
         UPDATE move_journal
            SET step = 'removed', updated_at = now(),
                removed = (SELECT coalesce(jsonb_agg(jsonb_build_object('backend', backend, 'key', key)),
                                           '[]'::jsonb) FROM gone)
          WHERE id = $6)
       SELECT backend, key FROM gone`,
      [
        entry.blobId,
        entry.to.backend,
        entry.to.key,
        entry.to.tier,
        entry.storedSize,
        entry.id,
        checksum,
      ],
    );
  }

  /** Marks entries done (their old objects are deleted) in one statement. */
  async setDone(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      `UPDATE move_journal SET step = 'done', updated_at = now() WHERE id = ANY($1::bigint[])`,
      [ids],
    );
  }

  async forJob(jobId: string): Promise<MoveEntry[]> {
    const rows = await this.db.query<Row>(
      'SELECT * FROM move_journal WHERE job_fk = $1 ORDER BY id',
      [jobId],
    );
    return rows.map(toEntry);
  }

  async setStep(tx: Sql, id: string, step: MoveStep, error: string | null = null): Promise<void> {
    await tx.query(
      'UPDATE move_journal SET step = $2, error = $3, updated_at = now() WHERE id = $1',
      [id, step, error],
    );
  }

  async setRemoved(
    tx: Sql,
    id: string,
    removed: { backend: string; key: string }[],
  ): Promise<void> {
    await tx.query(
      `UPDATE move_journal SET step = 'removed', removed = $2, updated_at = now() WHERE id = $1`,
      [id, JSON.stringify(removed)],
    );
  }
}
