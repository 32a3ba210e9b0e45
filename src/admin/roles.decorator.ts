/**
 * The role vocabulary and @Roles live in the access context (a leaf every context may import, so
 * that each controller declares its own roles); re-exported here for the admin context's files.
 */
export { ROLES, ROLES_KEY, Roles, type Role } from '../access/index.js';
