import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type Readable } from 'node:stream';
import { type BlobBackend, type ByteRange, type ObjectWriter } from './backend.js';
import { FileObjectWriter } from './file-object-writer.js';

const KEY_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9/_.-]{0,254}$/;

/**
 * Objects as files under a root folder, sharded by the key's first characters. Writes are atomic
 * (file-object-writer.ts): temp file in the same file system, fdatasync, rename, fsync of the
 * directory — a crash leaves either the whole object or nothing at its key (temp files are swept
 * by `sweepTemp`).
 */
export class FilesystemBackend implements BlobBackend {
  readonly kind = 'filesystem';
  private readonly tempDir: string;
  /** Shard folders known to exist: mkdir once per folder, not once per object. */
  private readonly knownDirs = new Set<string>();

  constructor(
    readonly id: string,
    private readonly root: string,
  ) {
    this.tempDir = join(root, '.tmp');
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.includes('..')) throw new Error(`invalid object key`);
    return join(this.root, key);
  }

  async init(): Promise<void> {
    await mkdir(this.tempDir, { recursive: true });
  }

  async put(key: string, data: Readable): Promise<{ size: number }> {
    const writer = this.openWriter(key);
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

  openWriter(key: string): ObjectWriter {
    const target = this.pathOf(key);
    const temp = join(this.tempDir, `${randomBytes(12).toString('hex')}.part`);
    return new FileObjectWriter(temp, target, this.knownDirs);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    // Open first so a missing object fails here, not later inside a response stream.
    const handle = await open(path, 'r');
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
