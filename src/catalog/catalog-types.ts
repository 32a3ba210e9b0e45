import { type ParsedHeader } from '../dicom/index.js';

/** What to do when a SOP Instance UID arrives again with different bytes. */
export type DuplicatePolicy = 'keep-both' | 'reject' | 'keep-first';

export interface NewInstance {
  header: ParsedHeader;
  blob: {
    digest: Buffer;
    size: number;
    storedSize: number;
    location: { backend: string; key: string; tier: string };
  };
  bulk?: { tag: string; offset: number } | null;
  adapter: string;
  source: string | null;
  callingAet: string | null;
  remoteHost: string | null;
  duplicatePolicy: DuplicatePolicy;
}

export type RecordOutcome =
  /** A new instance (version 1). */
  | 'stored'
  /** Same UID, different bytes, kept as a new (now current) version. */
  | 'new-version'
  /** The exact bytes are already stored for this instance: nothing new. */
  | 'duplicate'
  /** Same UID, different bytes, refused by policy. */
  | 'rejected-duplicate'
  /** Same UID, different bytes, the first version kept by policy; this one not stored. */
  | 'kept-first';

export interface RecordResult {
  outcome: RecordOutcome;
  /** Whether the catalog took the written blob (false: the caller must discard its copy). */
  blobTaken: boolean;
  version: number;
}
