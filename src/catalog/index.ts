export { CatalogModule } from './catalog.module.js';
export { CatalogService } from './catalog.service.js';
export { StudyAccessEvents, type StudyAccessListener } from './study-access-events.js';
export type { DuplicatePolicy, NewInstance, RecordOutcome, RecordResult } from './catalog-types.js';
export { CatalogReadService, type SearchResult } from './catalog-read.service.js';
export type {
  RetrievableInstance,
  RetrievalFilter,
  StoredLocation,
} from './catalog-read.repository.js';
export { type DicomJsonDataset, type DicomJsonElement, withBulkDataUris } from './dicom-json.js';
export {
  type MatchingKey,
  type QueryLevel,
  type SearchRequest,
  type SearchScope,
  SearchError,
} from './qido/search-types.js';
export { findKeySupport, type FindKeySupport, type FindLevel } from './qido/find-keys.js';
export { type PatientSearchRequest } from './qido/patient-sql.js';
export {
  parseQidoParams,
  QIDO_DEFAULT_LIMIT,
  QIDO_MAX_LIMIT,
  type QidoParams,
} from './qido/qido-params.js';
