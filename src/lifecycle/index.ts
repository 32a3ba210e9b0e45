// Public surface of the lifecycle context: policies, their evaluation, holds, deletion, sweeps.
export { LifecycleModule } from './lifecycle.module.js';
export { Clock } from './clock.js';
export { type LifecycleOptions, Sweeps, type SweepResult } from './sweeps.service.js';
export { Scheduler, type TickOutcome } from './scheduler.service.js';
export { HoldsService, HoldError } from './holds.service.js';
export { type LegalHold } from './hold.repository.js';
export { LifecycleService, LifecycleError, type Explanation } from './lifecycle.service.js';
export { SimulationService, type SimulationReport } from './simulation.service.js';
export { PolicyStore } from './policy-store.service.js';
export { type DeletionCertificate, Purger } from './purger.service.js';
export {
  formatIssue,
  loadPolicies,
  type PolicyIssue,
  PolicyValidationError,
  validatePolicies,
} from './policy-loader.js';
export { type LifecycleDecision } from './decision.js';
