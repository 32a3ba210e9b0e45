export { ConfigModule, STRATA_CONFIG } from './config.module.js';
export { ConfigError, loadConfig } from './load-config.js';
export {
  TIER_NAMES,
  type BackendConfig,
  type FilesystemBackendConfig,
  type S3BackendConfig,
  type StrataConfig,
  type TierConfig,
  type TierName,
} from './strata-config.js';
