// Public surface of the tiering context: moving a study's objects between tiers, as jobs.
export { TieringModule } from './tiering.module.js';
export { TierMover, type MoveRequest, type TieringOptions } from './tier-mover.service.js';
export { type Job, JobRepository, type JobStatus } from './job.repository.js';
export { JobLeases } from './job-leases.service.js';
export { type JobRunner } from './job-lease-keeper.js';
export { FixityService, type FixityRequest, type FixityResult } from './fixity.service.js';
export { badRequest, notFound, readJsonBody } from './http.js';
