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
 * An object being written, fed by the caller (no stream in between). Nothing is visible at the
 * key until `finish` resolves, and then it is durable.
 */
export interface ObjectWriter {
  /**
   * Queues bytes (the pieces may not be modified afterwards). Returns a promise when the caller
   * should wait before writing more (backpressure), else undefined.
   */
  write(pieces: readonly Buffer[]): Promise<void> | undefined;
  /** Makes the object durable at its key. */
  finish(): Promise<{ size: number }>;
  /** Drops what was written; safe to call at any time, more than once. */
  abort(): Promise<void>;
}

/**
 * A dumb blob store (ARCHITECTURE.md: backends never see DICOM or policy). Encryption, hashing and
 * metrics wrap it. `put` returns only once the object is durable.
 */
export interface BlobBackend {
  readonly id: string;
  readonly kind: string;
  put(key: string, data: Readable): Promise<{ size: number }>;
  /** Starts writing an object at `key` (see ObjectWriter). */
  openWriter(key: string): ObjectWriter;
  get(key: string, range?: ByteRange): Promise<Readable>;
  head(key: string): Promise<{ size: number; modifiedAt: Date } | null>;
  delete(key: string): Promise<void>;
  list(): AsyncIterable<{ key: string; size: number; modifiedAt: Date }>;
}
