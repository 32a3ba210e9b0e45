export { DimsePushModule } from './adapters/dimse-push/dimse-push.module.js';
export { DimsePushService } from './adapters/dimse-push/dimse-push.service.js';
export { StowPushModule } from './adapters/stow-push/stow-push.module.js';
export { IngestionModule } from './ingestion.module.js';
export { IngestionService } from './ingestion.service.js';
export type { IngestRefusal, IngestRequest, IngestResult } from './ingest-request.js';
export { DuplicatePolicies, PolicyError } from './duplicate-policy.js';
