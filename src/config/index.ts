export { ConfigModule, STRATA_CONFIG } from './config.module.js';
export { ConfigError, loadConfig } from './load-config.js';
export {
  DICOM_OPERATIONS,
  type DicomOperation,
  SWEEP_NAMES,
  TIER_NAMES,
  type SweepName,
  type BackendConfig,
  type DicomPeer,
  type FilesystemBackendConfig,
  type S3BackendConfig,
  type SourceConfig,
  type StrataConfig,
  type TierConfig,
  type TierName,
} from './strata-config.js';
export { inWindow, parseTimeWindow, type TimeWindow } from './time-window.js';
export { type SyslogConfig } from './syslog-settings.js';
export { checkTlsFiles, type DicomPeerTls, type DicomTlsConfig } from './dicom-tls-settings.js';
