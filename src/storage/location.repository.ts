import { type Sql } from '../database/index.js';

/** Read-side questions about blob locations that storage maintenance asks. */
export class LocationRepository {
  constructor(private readonly db: Sql) {}

  /** Which of these keys of a backend the catalog references. */
  async referenced(backend: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db.query<{ key: string }>(
      'SELECT key FROM locations WHERE backend = $1 AND key = ANY($2::text[])',
      [backend, keys],
    );
    return new Set(rows.map((r) => r.key));
  }
}
