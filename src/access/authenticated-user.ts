import { type Role } from './roles.js';

/** Who made an HTTP request, as the admin context's guard sets it on `req.strataUser`. */
export interface AuthenticatedUser {
  /** The token's name (the audit trail's actor). */
  name: string;
  role: Role;
  /** The catalog id of the token; null for the admin token of the configuration. */
  tokenId: string | null;
  /**
   * pacs tokens only: the source the token is bound to. Its STOW-RS requests are recorded under it,
   * and its QIDO-RS and WADO-RS requests see only instances recorded under it (README: Access).
   */
  source: string | null;
}

/**
 * The source whose instances a user is limited to: the bound source of a pacs token, null (no
 * limit) for every other role. A pacs user without a source (which the database forbids) would
 * get '' and so see nothing, never everything.
 */
export function sourceLimitOf(
  user: Pick<AuthenticatedUser, 'role' | 'source'> | undefined,
): string | null {
  if (user?.role !== 'pacs') return null;
  return user.source ?? '';
}
