export {
  type BlobBackend,
  type BlobLocation,
  type ByteRange,
  type RestoreState,
} from './backend.js';
export { BlobStore, type StagedBlob, type WrittenBlob } from './blob-store.service.js';
export { FilesystemBackend } from './filesystem.backend.js';
export { KeyService } from './key.service.js';
export {
  type HeldKey,
  type KeyChangeActor,
  KeyRing,
  KeyRingError,
  type Recipient,
  UnusableKeyError,
} from './key-ring.js';
export { type KeyRecipient, type RecipientRole } from './key-recipient.repository.js';
export { OpenPgpRepository, type SessionKey } from './openpgp.repository.js';
export { StorageModule } from './storage.module.js';
export { S3Backend } from './s3.backend.js';
export { openBackends } from './backend-registry.js';
