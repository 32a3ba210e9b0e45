import { Inject, Injectable, Logger } from '@nestjs/common';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type SourceConfig, STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { Database } from '../../../database/index.js';
import {
  type AdapterHealth,
  type AdapterStatus,
  type IngestionAdapter,
  sourcesOf,
} from '../adapter.js';
import { AdapterActivity } from '../adapter-activity.js';
import { optionProblems } from '../source-options.js';
import { DropFolder, type DropFolderSettings } from './drop-folder.js';
import { DropFolderRepository } from './drop-folder.repository.js';
import { FOLDER_IMPORT, FolderImporter } from './folder-importer.service.js';

/**
 * A folder-import source's own keys. `path` is its drop folder, watched when `watch` is true (or
 * not given and `stableSeconds` is); a source without a watched folder still names the imports
 * `strata import --source NAME` makes.
 */
const optionsSchema = z
  .object({
    path: z.string().min(1).optional(),
    watch: z.boolean().optional(),
    /** How long a file's size and mtime must stay unchanged before it is taken (default 10). */
    stableSeconds: z.number().min(0.1).max(86_400).optional(),
    /** How often the folder is listed (default: stableSeconds / 2, between 0.2 and 5). */
    pollSeconds: z.number().min(0.1).max(300).optional(),
  })
  .strict();

type FolderOptions = z.infer<typeof optionsSchema>;

function watched(o: FolderOptions): boolean {
  return o.watch ?? o.stableSeconds !== undefined;
}

/**
 * The folder-import adapter (kind 'import'): one-shot imports of folders, zip files and DICOMDIR
 * media run by the CLI (`strata import`, through FolderImporter), and the drop folders of the
 * sources that watch one, run here while the server is up.
 */
@Injectable()
export class FolderImportAdapter implements IngestionAdapter {
  readonly id = FOLDER_IMPORT;
  readonly kind = 'import';
  readonly capabilities = ['folders', 'zip', 'dicomdir', 'resumable', 'drop-folder'] as const;
  private readonly logger = new Logger('FolderImport');
  private readonly activity = new AdapterActivity();
  private readonly files = new DropFolderRepository();
  private readonly folders = new Map<string, DropFolder>();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly importer: FolderImporter,
    private readonly db: Database,
  ) {}

  checkSource(source: SourceConfig): string[] {
    const problems = optionProblems(optionsSchema, source.options);
    const o = source.options as FolderOptions;
    if (problems.length === 0 && watched(o) && !o.path) {
      problems.push('path: a watched folder-import source needs the folder');
    }
    return problems;
  }

  async start(): Promise<void> {
    for (const s of sourcesOf(this.config.sources, this.id)) {
      const settings = dropFolderSettings(s);
      if (!settings) continue;
      const folder = new DropFolder(
        settings,
        this.importer,
        this.db,
        this.files,
        this.activity,
        this.logger,
      );
      this.folders.set(s.name, folder);
      folder.start();
    }
    this.activity.started();
  }

  async stop(): Promise<void> {
    this.activity.stopped();
    await Promise.all([...this.folders.values()].map((f) => f.stop()));
    this.folders.clear();
  }

  async health(): Promise<AdapterHealth> {
    const problems = [...this.folders]
      .filter(([, f]) => f.problem !== null)
      .map(([name, f]) => `${name}: ${f.problem}`);
    if (problems.length > 0) return { ok: false, detail: problems.join('; ') };
    return { ok: true, detail: `${this.folders.size} drop folder(s) watched` };
  }

  status(): AdapterStatus {
    const names = sourcesOf(this.config.sources, this.id).map((s) => s.name);
    return this.activity.status(names, (name) => {
      const folder = this.folders.get(name);
      return { detail: folder ? folder.describe() : 'not watched (strata import --source)' };
    });
  }
}

function dropFolderSettings(s: SourceConfig): DropFolderSettings | null {
  const o = s.options as FolderOptions;
  if (!watched(o) || !o.path) return null;
  const stable = o.stableSeconds ?? 10;
  const poll = o.pollSeconds ?? Math.min(5, Math.max(0.2, stable / 2));
  return {
    source: s.name,
    path: resolve(o.path),
    stableMs: stable * 1000,
    pollMs: poll * 1000,
  };
}
