export { AdaptersModule } from './adapters/adapters.module.js';
export { AdapterRegistry } from './adapters/adapter-registry.js';
export {
  INGESTION_ADAPTERS,
  type AdapterKind,
  type AdapterStatus,
  type IngestCounters,
  type IngestionAdapter,
} from './adapters/adapter.js';
export { DimsePushModule } from './adapters/dimse-push/dimse-push.module.js';
export { DimsePushService } from './adapters/dimse-push/dimse-push.service.js';
export { FolderImportModule } from './adapters/folder-import/folder-import.module.js';
export {
  FolderImporter,
  type ImportProgress,
} from './adapters/folder-import/folder-importer.service.js';
export type { ImportPlan } from './adapters/folder-import/import-files.repository.js';
export type { ImportSummary } from './adapters/folder-import/import-result.js';
export { StowPushModule } from './adapters/stow-push/stow-push.module.js';
export { IngestionModule } from './ingestion.module.js';
export { IngestionService } from './ingestion.service.js';
export type { IngestRefusal, IngestRequest, IngestResult } from './ingest-request.js';
export { DuplicatePolicies, PolicyError } from './duplicate-policy.js';
export { OrthancPullModule } from './adapters/orthanc-pull/orthanc-pull.module.js';
export { OrthancPullAdapter } from './adapters/orthanc-pull/orthanc-pull.adapter.js';
export { DicomwebPullModule } from './adapters/dicomweb-pull/dicomweb-pull.module.js';
export { DicomwebPullAdapter } from './adapters/dicomweb-pull/dicomweb-pull.adapter.js';
export { PullAdapter } from './adapters/pull/pull-adapter.js';
export { type PullResult } from './adapters/pull/pull-result.js';
export { DimsePullModule } from './adapters/dimse-pull/dimse-pull.module.js';
export { DimsePullAdapter } from './adapters/dimse-pull/dimse-pull.adapter.js';
export {
  PROFILES_FOLDER,
  ProfileError,
  validateProfiles,
  VendorProfiles,
} from './profiles/profile-loader.js';
export {
  applyProfile,
  MODIFYING_SYSTEM,
  ProfileApplyError,
  restoreOriginals,
  RestoreError,
  type ApplyContext,
  type ProfileOutcome,
} from './profiles/profile-engine.js';
export { formatProfileIssue, type ProfileIssue } from './profiles/profile-schema.js';
export type { ProfileChange, VendorProfile } from './profiles/profile-model.js';
