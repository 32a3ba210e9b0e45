import { type Logger } from '@nestjs/common';
import { join } from 'node:path';
import { type Database } from '../../../database/index.js';
import { type AdapterActivity } from '../adapter-activity.js';
import { IMPORTED, REFUSED, type DropFolderRepository } from './drop-folder.repository.js';
import { type FolderImporter } from './folder-importer.service.js';
import { type ImportFileResult } from './import-result.js';
import { StableFiles } from './stable-files.js';

export interface DropFolderSettings {
  source: string;
  path: string;
  stableMs: number;
  pollMs: number;
}

/**
 * A watched drop folder of a folder-import source. It lists the folder every `pollMs` (a polling
 * scan, not inotify: it works the same on NFS and SMB mounts, where files arrive from other
 * machines, and it has to compare sizes and times anyway), takes each file whose size and mtime
 * have not changed for `stableMs`, imports it (a zip: its entries) and moves it to `.imported/`, or
 * to `.refused/` with a `.reason.txt` when anything in it was refused. A file is never deleted.
 * A file the archive failed to store (its own error, not the file's) stays where it is and is
 * tried again at the next scan; a crash between the import and the move sends it again at the
 * next start, which the archive recognises as the same bytes (stored once).
 *
 * With several nodes on one database, a scan runs on one node at a time (a session advisory lock
 * per source), so a file is imported by one of them.
 */
export class DropFolder {
  private readonly stable: StableFiles;
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> = Promise.resolve();
  private stopped = true;
  /** Why the last scan failed, null when it did not. */
  problem: string | null = null;

  constructor(
    private readonly settings: DropFolderSettings,
    private readonly importer: FolderImporter,
    private readonly db: Database,
    private readonly files: DropFolderRepository,
    private readonly activity: AdapterActivity,
    private readonly logger: Logger,
  ) {
    this.stable = new StableFiles(settings.stableMs);
  }

  start(): void {
    this.stopped = false;
    this.next(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
  }

  describe(): string {
    return this.problem ?? `watching ${this.settings.path}`;
  }

  private next(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.scanning = this.scan().finally(() => {
        if (!this.stopped) this.next(this.settings.pollMs);
      });
    }, delayMs);
  }

  private async scan(): Promise<void> {
    const { path, source } = this.settings;
    try {
      if (!(await this.files.isFolder(path))) {
        this.problem = `the drop folder ${path} is missing`;
        return;
      }
      await this.asLeader(`drop-folder:${source}`, async () => {
        const ready = this.stable.observe(await this.files.list(path), this.files.now());
        for (const file of ready) {
          if (this.stopped) break;
          await this.take(file);
        }
      });
      this.problem = null;
    } catch (error) {
      this.problem = `scan failed: ${error instanceof Error ? error.message : String(error)}`;
      this.logger.warn(`drop folder of source '${source}': ${this.problem}`);
    }
  }

  private async take(file: string): Promise<void> {
    const { path, source } = this.settings;
    const results = await this.importer.importFile(join(path, file), {
      source,
      actor: `folder-import:${source}`,
      host: null,
    });
    for (const r of results) this.activity.tally(source, r.outcome, r.bytes);
    this.stable.forget(file);
    if (results.some((r) => r.reason === 'storage-failure')) {
      // File names may hold patient names (senders name exports so): only at debug level.
      this.logger.warn(`drop folder of source '${source}': a file could not be stored; retrying`);
      this.logger.debug(`drop folder of source '${source}': ${file} could not be stored`);
      return;
    }
    const refused = results.filter((r) => r.outcome === 'refused');
    const moved =
      refused.length === 0
        ? await this.files.moveTo(path, file, IMPORTED)
        : await this.files.moveTo(path, file, REFUSED, reasonText(refused));
    this.logger.log(
      `drop folder of source '${source}': a file was ${refused.length === 0 ? 'imported' : 'refused'}`,
    );
    this.logger.debug(`drop folder of source '${source}': ${file} → ${moved}`);
  }

  /** Runs `work` unless another node holds this source's lock (then skips this scan). */
  private async asLeader(lock: string, work: () => Promise<void>): Promise<void> {
    await this.db.withConnection(async (conn) => {
      const [row] = (await conn.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
        lock,
      ])) as { ok: boolean }[];
      if (!row?.ok) return;
      try {
        await work();
      } finally {
        await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => undefined);
      }
    });
  }
}

function reasonText(refused: readonly ImportFileResult[]): string {
  return refused.map((r) => `${r.path}: ${r.reason}: ${r.message}\n`).join('');
}
