import { type Sql } from '../database/index.js';

/**
 * How far the move of one blob got. Each step is committed before the next begins:
 * planned (the new key is recorded, nothing written yet) → copied (the new copy is complete)
 * → added (verified, and its location recorded) → removed (the old location is gone from the
 * catalog) → done (the old object is deleted). Or failed, with the old copy untouched.
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
