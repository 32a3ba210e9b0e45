import { randomBytes } from 'node:crypto';
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

/** 'archived': a restore is needed before reading; 'in-progress': asked, not ready yet. */
export type RestoreState = 'ready' | 'archived' | 'in-progress';

export interface WriteOptions {
  /** S3 storage class (the tier's); ignored by backends that have none. */
  storageClass?: string;
}

/**
 * An object being written, fed by the caller (no stream in between). Nothing is visible at the
 * key until `finish` resolves, and then it is durable.
 */
export interface ObjectWriter {
  /** Where the object goes (given by the caller, or chosen by the backend). */
  readonly key: string;
  /**
   * Queues bytes (the pieces may not be modified afterwards). Returns a promise when the caller
   * should wait before writing more (backpressure), else undefined.
   */
  write(pieces: readonly Buffer[]): Promise<void> | undefined;
  /**
   * Makes the object durable at its key. `confirmed`: the server proved that it stored exactly
   * the bytes written (S3: its ETag is their MD5), so the copy needs no read-back to be verified;
   * `checksum` is then the server's checksum of the object (the ETag), which `head` answers later.
   */
  finish(): Promise<{ size: number; confirmed?: boolean; checksum?: string }>;
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
  put(key: string, data: Readable, options?: WriteOptions): Promise<{ size: number }>;
  /**
   * Starts writing an object (see ObjectWriter) at `key`, or, without one, at a new random key the
   * backend chooses (`randomObjectKey`'s shape), which lets it prepare the next one in advance.
   */
  openWriter(key?: string, options?: WriteOptions): ObjectWriter;
  /** Releases what the backend holds (connections, a file made in advance). */
  close(): Promise<void>;
  /**
   * Fails, saying why, when the backend cannot be used now (readiness): a filesystem root that
   * cannot be written, a bucket that does not answer. Cheap: one system call or one request.
   */
  probe(): Promise<void>;
  /**
   * Backends with archive storage classes (S3 Glacier): whether an object can be read now,
   * and asking for it to be restored (`get` fails with code NOT_RESTORED until it is).
   */
  restoreState?(key: string): Promise<RestoreState>;
  requestRestore?(key: string, options: { days: number; tier: string }): Promise<void>;
  /** How long a restore at this speed takes here, when the backend knows better than AWS's table. */
  restoreEstimateSeconds?(tier: string): number;
  get(key: string, range?: ByteRange): Promise<Readable>;
  /** Size, time and, where the server keeps one, its checksum of the object (S3: the ETag). */
  head(key: string): Promise<{ size: number; modifiedAt: Date; checksum?: string } | null>;
  delete(key: string): Promise<void>;
  list(): AsyncIterable<{ key: string; size: number; modifiedAt: Date }>;
}

/**
 * An opaque, random key: a listing of the store reveals nothing about what is in it. Prefixed by
 * its first three hex digits: 4096 folders on a file system (about 25,000 objects each at 100
 * million objects), created once, so that a write never has to create one.
 */
export function randomObjectKey(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 3)}/${hex}.pgp`;
}

/** Feeds a stream through a writer, with its backpressure; aborts the writer if anything fails. */
export async function writeAll(writer: ObjectWriter, data: Readable): Promise<{ size: number }> {
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      const wait = writer.write([chunk]);
      if (wait) await wait;
    }
    return await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
