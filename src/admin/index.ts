export { AdminModule } from './admin.module.js';
export { type AuthenticatedRequest } from './auth.guard.js';
export { Public } from './public.decorator.js';
export { ProblemDetailsFilter } from './problem.filter.js';
export { TokenRepository } from './token.repository.js';
