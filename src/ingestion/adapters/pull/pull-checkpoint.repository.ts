import { type Sql } from '../../../database/index.js';

/** Where a pull source got to (its adapter's own cursor shape), kept in the catalog. */
export class PullCheckpointRepository {
  async get<T>(db: Sql, source: string): Promise<T | null> {
    const [row] = await db.query<{ cursor: T }>(
      'SELECT cursor FROM pull_checkpoints WHERE source = $1',
      [source],
    );
    return row?.cursor ?? null;
  }

  async save(db: Sql, source: string, adapter: string, cursor: unknown): Promise<void> {
    await db.query(
      `INSERT INTO pull_checkpoints (source, adapter, cursor) VALUES ($1, $2, $3)
       ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, adapter = EXCLUDED.adapter,
                                          updated_at = clock_timestamp()`,
      [source, adapter, JSON.stringify(cursor)],
    );
  }
}
