import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Sql } from '../database/index.js';

/** What a node's secret must match, else start-up stops with this message. */
export class SharedSecretMismatchError extends Error {}

/**
 * Secrets every node of one catalog must share, checked at start against a check value kept in
 * the catalog (shared_secret_checks: an HMAC of a fixed text under the secret, which reveals
 * nothing of it). The first node to start records it; a node whose secret differs (a second node
 * given a fresh data dir) refuses to start, instead of digesting the same bytes differently:
 * duplicates stored twice and every copy another node made failing verification.
 */
export class SharedSecretCheckRepository {
  constructor(private readonly db: Sql) {}

  async verify(name: string, secret: Buffer, where: string): Promise<void> {
    const check = createHmac('sha256', secret)
      .update(`strata shared secret check: ${name}`)
      .digest();
    await this.db.query(
      `INSERT INTO shared_secret_checks (name, check_value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
      [name, check],
    );
    const [row] = await this.db.query<{ check_value: Buffer }>(
      'SELECT check_value FROM shared_secret_checks WHERE name = $1',
      [name],
    );
    if (
      !row ||
      row.check_value.length !== check.length ||
      !timingSafeEqual(row.check_value, check)
    ) {
      throw new SharedSecretMismatchError(
        `the ${name} secret in ${where} is not the one this catalog was made with (another node's): ` +
          `copy that file from the first node (every node of one catalog shares it; README: multi-node deployment)`,
      );
    }
  }
}
