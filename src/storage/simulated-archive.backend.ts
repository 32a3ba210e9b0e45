import { type Readable } from 'node:stream';
import {
  type BlobBackend,
  type ByteRange,
  type ObjectWriter,
  type RestoreState,
  type WriteOptions,
} from './backend.js';
import { S3BackendError } from './s3.backend.js';

const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/**
 * Glacier's restore semantics in front of a backend that has none. S3-compatible servers (s3rver,
 * MinIO) keep the storage class but serve every object at once, so the restore flow could not be
 * tested or demonstrated against them; this decorator makes objects written with an archive class
 * unreadable (code NOT_RESTORED, like S3's InvalidObjectState) until a restore is requested and
 * `restoreSeconds` have passed. Enabled per backend by `simulateRestoreSeconds` in the config file:
 * for tests and demos only, never in front of real S3. Restores are remembered in memory only; an
 * object this process did not write is archived if the server kept an archive storage class.
 */
export class SimulatedArchiveBackend implements BlobBackend {
  readonly kind: string;
  private readonly archived = new Set<string>();
  private readonly restoring = new Map<string, number>();
  private readonly seen = new Set<string>();
  /** How many restores were requested (tests check that they are deduplicated). */
  restoreRequests = 0;

  constructor(
    private readonly inner: BlobBackend,
    private readonly restoreSeconds: number,
  ) {
    this.kind = inner.kind;
  }

  get id(): string {
    return this.inner.id;
  }

  put(key: string, data: Readable, options: WriteOptions = {}): Promise<{ size: number }> {
    this.track(key, options);
    return this.inner.put(key, data, options);
  }

  openWriter(key?: string, options: WriteOptions = {}): ObjectWriter {
    const writer = this.inner.openWriter(key, options);
    this.track(writer.key, options);
    return writer;
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if ((await this.restoreState(key)) !== 'ready') {
      throw new S3BackendError(
        `backend '${this.id}': read of ${key} failed: InvalidObjectState (simulated)`,
        'NOT_RESTORED',
        'InvalidObjectState',
      );
    }
    return this.inner.get(key, range);
  }

  head(key: string): ReturnType<BlobBackend['head']> {
    return this.inner.head(key);
  }

  async delete(key: string): Promise<void> {
    this.archived.delete(key);
    this.restoring.delete(key);
    await this.inner.delete(key);
  }

  list(): ReturnType<BlobBackend['list']> {
    return this.inner.list();
  }

  probe(): Promise<void> {
    return this.inner.probe();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async restoreState(key: string): Promise<RestoreState> {
    const readyAt = this.restoring.get(key);
    if (readyAt !== undefined) return Date.now() >= readyAt ? 'ready' : 'in-progress';
    if (!this.seen.has(key)) {
      // Written by another process (or before a restart): the server kept its storage class.
      this.seen.add(key);
      if ((await this.inner.restoreState?.(key)) === 'archived') this.archived.add(key);
    }
    return this.archived.has(key) ? 'archived' : 'ready';
  }

  async requestRestore(key: string): Promise<void> {
    if (this.restoring.has(key)) return;
    this.restoreRequests++;
    this.restoring.set(key, Date.now() + this.restoreSeconds * 1000);
  }

  restoreEstimateSeconds(): number {
    return this.restoreSeconds;
  }

  private track(key: string, options: WriteOptions): void {
    this.seen.add(key);
    this.restoring.delete(key);
    if (options.storageClass && ARCHIVE_CLASSES.has(options.storageClass)) this.archived.add(key);
    else this.archived.delete(key);
  }
}
