import { close as closeFd, constants } from 'node:fs';
import { access, type FileHandle, mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import {
  type BlobBackend,
  type ByteRange,
  type ObjectWriter,
  randomObjectKey,
  writeAll,
} from './backend.js';
import { createObjectFile, FileObjectWriter, ShardFolders } from './file-object-writer.js';

/**
 * A file made in advance for the next object is used only while fresh, far below any orphan
 * grace period (an unreferenced file older than the grace may be swept by another node).
 */
const SPARE_MAX_AGE_MS = 60_000;

interface Spare {
  key: string;
  fd: Promise<number>;
  madeAt: number;
}

/** '000' … 'fff': the folders of the keys the archive generates (BlobStore: '<3 hex>/<name>'). */
const SHARD_FOLDERS = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));

const KEY_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9/_.-]{0,254}$/;

/**
 * Objects as files under a root folder, sharded by the key's first characters. A write goes
 * straight to its (new, random) key and is durable when `finish` resolves (file-object-writer.ts
 * says why no temp file); a crash mid-write leaves an unreferenced partial file, which the orphan
 * sweep removes. The .tmp folder only holds leftovers of older versions, swept by `sweepTemp`.
 */
export class FilesystemBackend implements BlobBackend {
  readonly kind = 'filesystem';
  private readonly tempDir: string;
  /** Shard folders known to exist: mkdir once per folder, not once per object. */
  private readonly folders: ShardFolders;
  private spare: Spare | null = null;

  constructor(
    readonly id: string,
    private readonly root: string,
  ) {
    this.tempDir = join(root, '.tmp');
    this.folders = new ShardFolders(root);
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.includes('..')) throw new Error(`invalid object key`);
    return join(this.root, key);
  }

  /**
   * Makes the root usable (or fails saying why). With `prepareShards` (the hot tier's backend),
   * the 4096 shard folders are made now, so that an ingest never waits for a mkdir.
   */
  async init(options: { prepareShards?: boolean } = {}): Promise<void> {
    try {
      await mkdir(this.tempDir, { recursive: true });
      if (options.prepareShards) await this.folders.prepare(SHARD_FOLDERS);
    } catch (error) {
      throw new Error(
        `storage backend '${this.id}' (filesystem at ${this.root}): cannot be used: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async probe(): Promise<void> {
    try {
      await access(this.tempDir, constants.W_OK);
    } catch (error) {
      throw new Error(
        `storage backend '${this.id}' (filesystem): cannot write: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }

  async put(key: string, data: Readable): Promise<{ size: number }> {
    return writeAll(this.openWriter(key), data);
  }

  openWriter(key?: string): ObjectWriter {
    if (key !== undefined) {
      const target = this.pathOf(key);
      return new FileObjectWriter(key, target, createObjectFile(target, this.folders));
    }
    // The next object's file is made while this one is written: creating a file costs a journal
    // update (≈ 0.3–0.8 ms here), which then is not in the way of the next instance.
    const spare = this.takeSpare();
    this.spare = this.makeSpare();
    return new FileObjectWriter(spare.key, this.pathOf(spare.key), spare.fd);
  }

  /** Removes the file made in advance for the next object, if any. */
  async close(): Promise<void> {
    const spare = this.spare;
    this.spare = null;
    if (spare) await this.dropSpare(spare);
  }

  private takeSpare(): Spare {
    const spare = this.spare;
    this.spare = null;
    if (spare && Date.now() - spare.madeAt < SPARE_MAX_AGE_MS) return spare;
    if (spare) void this.dropSpare(spare);
    return this.makeSpare();
  }

  private makeSpare(): Spare {
    const key = randomObjectKey();
    const fd = createObjectFile(this.pathOf(key), this.folders);
    fd.catch(() => undefined); // reported by the writer that takes it
    return { key, fd, madeAt: Date.now() };
  }

  private async dropSpare(spare: Spare): Promise<void> {
    const fd = await spare.fd.catch(() => null);
    if (fd === null) return;
    await new Promise<void>((resolve) => closeFd(fd, () => resolve()));
    await unlink(this.pathOf(spare.key)).catch(() => undefined);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    // Open first so a missing object fails here, not later inside a response stream.
    const handle = await open(path, 'r');
    if (range === undefined) {
      const whole = await readSmall(handle);
      if (whole !== null) return Readable.from([whole], { objectMode: false });
    }
    return handle.createReadStream({
      start: range?.start,
      end: range?.end,
      highWaterMark: 1 << 20,
    });
  }

  async head(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    try {
      const s = await stat(this.pathOf(key));
      return { size: s.size, modifiedAt: s.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(): AsyncIterable<{ key: string; size: number; modifiedAt: Date }> {
    const walk = async function* (
      dir: string,
      root: string,
    ): AsyncGenerator<{ key: string; size: number; modifiedAt: Date }> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (dir === root && entry.name === '.tmp') continue;
          yield* walk(full, root);
        } else if (entry.isFile()) {
          const s = await stat(full).catch(() => null);
          if (s)
            yield {
              key: relative(root, full).split(sep).join('/'),
              size: s.size,
              modifiedAt: s.mtime,
            };
        }
      }
    };
    yield* walk(this.root, this.root);
  }

  /** Removes temp files left by writes that a crash interrupted. */
  async sweepTemp(olderThanMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.tempDir).catch(() => [] as string[])) {
      const path = join(this.tempDir, name);
      const s = await stat(path).catch(() => null);
      if (s && now - s.mtimeMs >= olderThanMs) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}

/**
 * Objects up to this size are read whole into one buffer of their size: a read stream allocates a
 * 1 MiB buffer per read and copies what a short read got out of it (Node's fs/streams), which for
 * a typical 0.5 MB image is twice the memory and a copy; on retrieval, per instance, that was the
 * largest cost after decryption. Larger objects stream in bounded memory.
 */
const WHOLE_READ_MAX = 4 * 1024 * 1024;

/** The whole object when it is small (the handle is then closed), else null (handle left open). */
async function readSmall(handle: FileHandle): Promise<Buffer | null> {
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw error;
  }
  if (size > WHOLE_READ_MAX) return null;
  try {
    const buf = Buffer.allocUnsafe(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(buf, offset, size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    // Shorter than its size a moment ago: a concurrent truncation; hand over what is there.
    return offset === size ? buf : buf.subarray(0, offset);
  } finally {
    await handle.close();
  }
}
