import { type Readable } from 'node:stream';

/** Where a blob's bytes are, as the catalog records it: never an absolute path. */
export interface BlobLocation {
  backend: string;
  key: string;
  tier: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in HTTP ranges. */
  end?: number;
}

/**
 * A dumb blob store (ARCHITECTURE.md: backends never see DICOM or policy). Encryption, hashing and
 * metrics wrap it. `put` returns only once the object is durable.
 */
export interface BlobBackend {
  readonly id: string;
  readonly kind: string;
  put(key: string, data: Readable): Promise<{ size: number }>;
  get(key: string, range?: ByteRange): Promise<Readable>;
  head(key: string): Promise<{ size: number; modifiedAt: Date } | null>;
  delete(key: string): Promise<void>;
  list(): AsyncIterable<{ key: string; size: number; modifiedAt: Date }>;
}
