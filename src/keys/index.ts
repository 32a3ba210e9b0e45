// Public surface of the keys context: key rotation, escrow recipients and retiring keys, as jobs
// that re-wrap study session keys in the catalog (stored objects are never rewritten).
export { KeysModule } from './keys.module.js';
export { KeyJobs, type KeysOptions, REWRAP_JOB, type RewrapResult } from './key-jobs.service.js';
