import { close, fdatasync, fsync, mkdir, open, rename, unlink, writev } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { type ObjectWriter } from './backend.js';

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const mkdirAsync = promisify(mkdir);

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
 * Writes one object as a temp file (in the backend's .tmp folder, same file system), then
 * fdatasync, rename to its key, fsync of the directory: a crash leaves the whole object at its key
 * or nothing (the temp file is swept at start). Uses the callback fs API, which costs less per
 * call than fs/promises' FileHandle; on one association each call is latency the sender waits for.
 */
export class FileObjectWriter implements ObjectWriter {
  private readonly fd: Promise<number>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pumping: Promise<void> | null = null;
  private failure: Error | null = null;
  private size = 0;
  private aborted = false;

  constructor(
    private readonly temp: string,
    private readonly target: string,
    private readonly knownDirs: Set<string>,
  ) {
    this.fd = openAsync(temp, 'wx');
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

  async finish(): Promise<{ size: number }> {
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
    const fd = await this.fd;
    await fdatasyncAsync(fd);
    await closeAsync(fd);
    const dir = dirname(this.target);
    if (!this.knownDirs.has(dir)) {
      await mkdirAsync(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    try {
      await renameAsync(this.temp, this.target);
    } catch (error) {
      // The folder may have been removed behind our back: make it again, once.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdirAsync(dir, { recursive: true });
      await renameAsync(this.temp, this.target);
    }
    const dirFd = await openAsync(dir, 'r');
    try {
      await fsyncAsync(dirFd);
    } finally {
      await closeAsync(dirFd);
    }
    return { size: this.size };
  }

  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.failure ??= new Error('the write was aborted');
    while (this.pumping) await this.pumping.catch(() => undefined);
    const fd = await this.fd.catch(() => null);
    if (fd !== null) await closeAsync(fd).catch(() => undefined);
    await unlinkAsync(this.temp).catch(() => undefined);
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
