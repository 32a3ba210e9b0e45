import { Injectable } from '@nestjs/common';
import { type Sql } from '../database/index.js';

/** The configurations the archive has run with (config_versions). */
@Injectable()
export class ConfigVersionsRepository {
  /** Records a version; false when it was known already (another node, an earlier start). */
  async insert(tx: Sql, version: string, config: unknown): Promise<boolean> {
    const rows = await tx.query(
      `INSERT INTO config_versions (version, config) VALUES ($1, $2)
       ON CONFLICT (version) DO NOTHING RETURNING 1`,
      [version, JSON.stringify(config)],
    );
    return rows.length > 0;
  }

  /** The version seen most recently before `version`, if any. */
  async previous(tx: Sql, version: string): Promise<{ version: string; config: unknown } | null> {
    const [row] = await tx.query<{ version: string; config: unknown }>(
      `SELECT version, config FROM config_versions WHERE version <> $1
        ORDER BY first_seen_at DESC LIMIT 1`,
      [version],
    );
    return row ?? null;
  }
}
