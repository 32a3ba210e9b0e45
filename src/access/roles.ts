import { SetMetadata } from '@nestjs/common';

/**
 * The roles of the archive's users (issue 6): admin (everything), archivist (policies, holds,
 * moves, deletions), auditor (read-only audit and catalog metadata, no pixel data), pacs (DICOMweb
 * store, query and retrieve for its own source only).
 */
export const ROLES = ['admin', 'archivist', 'auditor', 'pacs'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export const ROLES_KEY = 'strata:roles';
/**
 * The roles that may call a route (or every route of a controller); admin always may. A route
 * without it is admin-only, so `@Roles('admin')` states that decision explicitly.
 */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
