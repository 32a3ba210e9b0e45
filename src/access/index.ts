// Public surface of the access context: the role vocabulary, the @Roles route decorator and the
// shape of an authenticated user. A leaf (it depends on no context), so that every context can
// declare who may call its routes; the admin context's guard enforces it.
export { isRole, ROLES, ROLES_KEY, Roles, type Role } from './roles.js';
export { type AuthenticatedUser, sourceLimitOf } from './authenticated-user.js';
