export { AdminModule } from './admin.module.js';
export { type AuthenticatedRequest } from './auth.guard.js';
export { Public } from './public.decorator.js';
export { ProblemDetailsFilter } from './problem.filter.js';
export { TokenRepository } from './token.repository.js';
export { TokensModule } from './tokens.module.js';
export { type TokenActor, TokenError, TokenService } from './token.service.js';
export { type TokenRecord } from './token.repository.js';
export { PolicyReloadService, type ReloadOutcome } from './policy-reload.service.js';
