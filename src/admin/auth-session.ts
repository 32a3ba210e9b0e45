import { type SessionRule } from './token.repository.js';

/**
 * Successful authentications are audited once per session, not per request: a PACS querying
 * every few seconds would otherwise double the audit trail's volume with rows that say nothing
 * new. A session begins at a token's first use, at its first use after 15 minutes without one,
 * and at least once a day however busy the token is, so the trail shows every token that was
 * used, from where, and on which days. (Failures are audited one by one.)
 */
export const SESSION_RULE: SessionRule = { idleSeconds: 15 * 60, maxSeconds: 24 * 60 * 60 };

/**
 * The same rule for the configured admin token (STRATA_ADMIN_TOKEN), which has no row to keep
 * its times in: they live in this process, so each node (and each restart) audits its own first
 * use. The process clock is enough here: it only decides when to write an extra audit row.
 */
export class ConfigTokenSession {
  private startedAt = -Infinity;
  private lastUsedAt = -Infinity;

  /** Records a use; true when it begins a session. */
  use(now: number = Date.now()): boolean {
    const fresh =
      now - this.lastUsedAt > SESSION_RULE.idleSeconds * 1000 ||
      now - this.startedAt > SESSION_RULE.maxSeconds * 1000;
    this.lastUsedAt = now;
    if (fresh) this.startedAt = now;
    return fresh;
  }
}
