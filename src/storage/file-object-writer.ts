import { close, fdatasync, fstat, fsync, mkdir, open, readdir, unlink, writev } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type ObjectWriter } from './backend.js';

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const fstatAsync = promisify(fstat);
const unlinkAsync = promisify(unlink);
const mkdirAsync = promisify(mkdir);
const readdirAsync = promisify(readdir);

/** Queued bytes beyond which the caller is asked to wait for the disk. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

function writevAll(fd: number, buffers: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (pending: Buffer[]): void => {
      writev(fd, pending, (error, written) => {
        if (error) return reject(error);
        // A regular file takes everything unless the disk is full; go on from where it stopped.
        let rest = written;
        while (pending.length > 0 && rest >= pending[0]!.length) rest -= pending.shift()!.length;
        if (pending.length === 0) return resolve();
        if (written === 0) return reject(new Error('the disk accepted no bytes'));
        pending[0] = pending[0]!.subarray(rest);
        step(pending);
      });
    };
    step(buffers);
  });
}

/**
 * Writes one object straight at its key, then fdatasync: on one association every device flush is
 * latency the sender waits for, and this is the only one the object needs.
 *
 * Why no temp file and rename: keys are new and random, never overwritten, and nothing reads a
 * key before a catalog location points at it, which happens only after `finish` (see
 * IngestionService). A crash mid-write leaves a partial file at a key no location references:
 * an orphan, which the start-up sweep removes. A rename would need an fsync of the directory,
 * a second journal commit per object. The new file's directory entry is made durable by the
 * fdatasync itself on the journaling file systems this runs on (ext4, xfs, btrfs commit the
 * creation with the file's first sync); new shard folders get their parent fsync'd once.
 *
 * Uses the callback fs API, which costs less per call than fs/promises' FileHandle.
 */
export class FileObjectWriter implements ObjectWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pumping: Promise<void> | null = null;
  private failure: Error | null = null;
  private size = 0;
  private aborted = false;

  /** `fd`: the object's file, created (empty, 'wx') at `target` by `createObjectFile`. */
  constructor(
    readonly key: string,
    private readonly target: string,
    private readonly fd: Promise<number>,
  ) {
    this.fd.catch((e: unknown) => (this.failure ??= e as Error));
  }

  write(pieces: readonly Buffer[]): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      this.size += piece.length;
    }
    if (this.pending.length > 0 && this.pumping === null) {
      this.pumping = this.pump();
      this.pumping.catch(() => undefined);
    }
    return this.pendingBytes >= HIGH_WATER_BYTES && this.pumping ? this.pumping : undefined;
  }

  /**
   * Durable once fdatasync returns; `confirmed` when the file then holds exactly the bytes written
   * (its size, and it still has a name). Reading it back would only read the page cache.
   */
  async finish(): Promise<{ size: number; confirmed: boolean }> {
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
    const fd = await this.fd;
    const [, stat] = await Promise.all([fdatasyncAsync(fd), fstatAsync(fd)]);
    // A file made in advance that someone removed (an operator, another node's sweep with a
    // grace period of 0) would take the bytes and keep none of them.
    if (stat.nlink === 0) throw new Error('the object file was removed while being written');
    // Closing is not needed for durability: it happens after the answer.
    closeAsync(fd).catch(() => undefined);
    return { size: this.size, confirmed: stat.size === this.size };
  }

  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.failure ??= new Error('the write was aborted');
    while (this.pumping) await this.pumping.catch(() => undefined);
    const fd = await this.fd.catch(() => null);
    if (fd === null) return; // never created ('wx' failed: the key belongs to someone else)
    await closeAsync(fd).catch(() => undefined);
    await unlinkAsync(this.target).catch(() => undefined);
  }

  private async pump(): Promise<void> {
    try {
      const fd = await this.fd;
      while (this.pending.length > 0 && !this.failure) {
        const batch = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        await writevAll(fd, batch);
      }
    } catch (error) {
      this.failure ??= error as Error;
      throw error;
    } finally {
      this.pumping = null;
    }
  }
}

/** Creates the empty file of a new object ('wx': never an existing one) and opens it. */
export async function createObjectFile(target: string, folders: ShardFolders): Promise<number> {
  const dir = dirname(target);
  await folders.ensure(dir);
  try {
    return await openAsync(target, 'wx');
  } catch (error) {
    // The folder was removed behind our back (an operator, a test): make it again, once.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    folders.forget(dir);
    await folders.ensure(dir);
    return openAsync(target, 'wx');
  }
}

/**
 * The shard folders known to exist. A folder is created once per process (mkdir -p), and then
 * its parent and grandparent are fsync'd so that the folder itself survives a crash; afterwards
 * no call is made for it.
 */
export class ShardFolders {
  private readonly known = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  ensure(dir: string): Promise<void> {
    let ready = this.known.get(dir);
    if (!ready) {
      ready = this.create(dir);
      this.known.set(dir, ready);
      ready.catch(() => this.known.delete(dir));
    }
    return ready;
  }

  /**
   * Creates the given folders of the root that do not exist yet, with one fsync of the root for
   * all of them, and remembers them: writes to them then make no folder call at all.
   */
  async prepare(names: readonly string[]): Promise<void> {
    const existing = new Set(await readdirAsync(this.root));
    const missing = names.filter((n) => !existing.has(n));
    for (const name of missing) await mkdirAsync(join(this.root, name), { recursive: true });
    if (missing.length > 0) await fsyncFolder(this.root);
    for (const name of names) this.known.set(join(this.root, name), Promise.resolve());
  }

  /** Forgets a folder (removed behind our back, e.g. by a test or an operator). */
  forget(dir: string): void {
    this.known.delete(dir);
  }

  private async create(dir: string): Promise<void> {
    await mkdirAsync(dir, { recursive: true });
    for (let d = dirname(dir); d.length >= this.root.length; d = dirname(d)) {
      await fsyncFolder(d);
      if (d === this.root) break;
    }
  }
}

async function fsyncFolder(dir: string): Promise<void> {
  const fd = await openAsync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}
