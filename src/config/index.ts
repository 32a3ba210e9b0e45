export { ConfigModule, STRATA_CONFIG } from './config.module.js';
export { ConfigError, loadConfig } from './load-config.js';
export type { StrataConfig } from './strata-config.js';
