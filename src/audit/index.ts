export {
  type AuditAppendPayload,
  type AuditEvent,
  type AuditRow,
  canonicalEncoding,
} from './audit-event.js';
export { AuditModule } from './audit.module.js';
export { AuditService } from './audit.service.js';
export { AuditSyslogModule } from './syslog/audit-syslog.module.js';
export {
  AUDIT_FORMATS,
  type AuditFilter,
  type AuditFormat,
  type AuditQuery,
  AuditQueryError,
  parseAuditQuery,
  STREAMED_FORMATS,
} from './audit-query.js';
export { csvLine, listingWriter, type ListingWriter } from './audit-listing.js';
export {
  ARCHIVE_SIGNER,
  type ArchivePublicKey,
  type ArchiveSigner,
} from './trail/archive-signer.js';
export { AuditTrailModule } from './trail/audit-trail.module.js';
export { type AuditBundle } from './trail/bundle.js';
export { BundleExporter } from './trail/bundle-exporter.service.js';
export {
  BundleFormatError,
  type BundleVerification,
  parseBundle,
  verifyBundle,
} from './trail/bundle-verifier.js';
export { ChainCrypto } from './trail/chain-crypto.repository.js';
export { type ChainProblem } from './trail/chain-verifier.js';
export { type Checkpoint } from './trail/checkpoint.js';
export { CheckpointService } from './trail/checkpoint.service.js';
export { TrailVerifier, type TrailVerification } from './trail/trail-verifier.service.js';
