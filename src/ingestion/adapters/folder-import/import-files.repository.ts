import { type Dirent } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { type Readable } from 'node:stream';
import { isDicomdirName, referencedFiles } from './dicomdir.js';
import { type SkippedFile } from './import-result.js';
import { listZip, readZip, type ZipEntryInfo } from './zip-reader.js';

/** A file (or zip entry) to hand the pipeline; `open` is valid until the next item is taken. */
export interface ImportItem {
  path: string;
  size: number;
  open(): Promise<Readable>;
}

/** Found while planning: it cannot be imported, and the summary says why. */
export interface PlannedRefusal {
  path: string;
  reason: 'unreadable' | 'bad-zip' | 'bad-dicomdir' | 'missing';
  message: string;
}

type PlannedEntry =
  | { kind: 'file'; path: string; size: number }
  | { kind: 'zip'; path: string; entries: ZipEntryInfo[] };

/** What an import will read, found before reading any of it (for the progress bar's totals). */
export interface ImportPlan {
  /** What was asked for (absolute): a folder, a zip, a DICOMDIR, a file. */
  target: string;
  /** The folder every path is relative to (the target, or the folder holding it). */
  root: string;
  entries: PlannedEntry[];
  skipped: SkippedFile[];
  refused: PlannedRefusal[];
  /** Files and zip entries to ingest, and their size. */
  files: number;
  bytes: number;
}

const ZIP = /\.zip$/i;
/** Larger DICOMDIRs are not read whole (one record is ≈ 100-400 bytes: millions of files). */
const MAX_DICOMDIR_BYTES = 256 * 1024 * 1024;

const hidden = (path: string) => path.split('/').some((part) => part.startsWith('.'));
const reasonOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * The import's view of the filesystem: folders walked recursively (in name order, so a resumed
 * run meets the files in the same order), zip files read as their entries, and DICOMDIR media.
 * Hidden files and folders (.DS_Store, a drop folder's .imported/) are skipped.
 *
 * A folder holding a DICOMDIR is a medium: exactly the files its directory records reference are
 * imported (matched without regard to case, as media are written in upper case and often mounted
 * in lower), a referenced file that is missing is refused as 'missing', and the other files (a
 * viewer program, autorun files) are skipped. A DICOMDIR that cannot be read is refused and its
 * folder imported like any other. Inside a zip every entry is imported but a DICOMDIR.
 */
export class ImportFilesRepository {
  /** Plans the import of a folder, a zip, a Part 10 file, or a DICOMDIR (its medium). */
  async plan(target: string): Promise<ImportPlan> {
    const path = resolve(target);
    const info = await stat(path);
    const plan = emptyPlan(path, info.isDirectory() ? path : dirname(path));
    if (info.isDirectory()) await this.walk(plan, path);
    else if (isDicomdirName(basename(path))) {
      const medium = await this.addMedium(plan, plan.root, basename(path));
      if (!medium) await this.walk(plan, plan.root, false);
    } else await this.addFile(plan, path, info.size);
    return plan;
  }

  /** Plans one file on its own (a drop folder's): a zip is its entries, a DICOMDIR is skipped. */
  async planFile(path: string): Promise<ImportPlan> {
    const plan = emptyPlan(path, dirname(path));
    await this.addFile(plan, path, (await stat(path)).size);
    return plan;
  }

  /** The plan's files and zip entries, in order; a zip is open while its entries are taken. */
  async *items(plan: ImportPlan): AsyncGenerator<ImportItem> {
    for (const entry of plan.entries) {
      if (entry.kind === 'file') {
        const path = join(plan.root, entry.path);
        yield {
          path: entry.path,
          size: entry.size,
          open: async () => (await open(path)).createReadStream(),
        };
        continue;
      }
      const wanted = new Map(entry.entries.map((e) => [e.name, e]));
      try {
        for await (const e of readZip(join(plan.root, entry.path))) {
          if (!wanted.delete(e.name)) continue;
          yield { path: `${entry.path}!${e.name}`, size: e.size, open: e.open };
        }
      } catch (error) {
        // The zip changed or broke since it was planned: its entries not yet taken fail to open.
        const failure = new Error(`the zip file could not be read: ${reasonOf(error)}`);
        for (const e of wanted.values()) {
          yield {
            path: `${entry.path}!${e.name}`,
            size: e.size,
            open: () => Promise.reject(failure),
          };
        }
        wanted.clear();
      }
      for (const e of wanted.values()) {
        const gone = new Error('the entry is no longer in the zip file');
        yield { path: `${entry.path}!${e.name}`, size: e.size, open: () => Promise.reject(gone) };
      }
    }
  }

  /** `media`: a DICOMDIR found in `dir` makes it a medium (false once it proved unreadable). */
  private async walk(plan: ImportPlan, dir: string, media = true): Promise<void> {
    let entries: Dirent[];
    try {
      entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
    } catch (error) {
      plan.refused.push({ path: rel(plan, dir), reason: 'unreadable', message: reasonOf(error) });
      return;
    }
    const dicomdir = media && entries.find((e) => isDicomdirName(e.name) && !e.isDirectory());
    if (dicomdir && (await this.addMedium(plan, dir, dicomdir.name))) return;
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.name.startsWith('.')) {
        plan.skipped.push({ path: rel(plan, path), reason: 'hidden' });
        continue;
      }
      const info = await this.follow(plan, e, path);
      if (info?.isDirectory()) await this.walk(plan, path);
      else if (info?.isFile()) await this.addFile(plan, path, info.size);
    }
  }

  /** A folder entry's type and size, following a symbolic link to a file (not to a folder). */
  private async follow(plan: ImportPlan, e: Dirent, path: string) {
    if (!e.isSymbolicLink()) return e.isFile() || e.isDirectory() ? await stat(path) : null;
    const target = await stat(path).catch(() => null);
    if (target?.isFile()) return target;
    plan.skipped.push({ path: rel(plan, path), reason: 'symbolic link to a folder or nothing' });
    return null;
  }

  private async addFile(plan: ImportPlan, path: string, size: number): Promise<void> {
    const where = rel(plan, path);
    if (isDicomdirName(basename(path))) {
      plan.skipped.push({ path: where, reason: 'DICOMDIR' });
    } else if (!ZIP.test(path)) {
      plan.entries.push({ kind: 'file', path: where, size });
      plan.files++;
      plan.bytes += size;
    } else {
      let listed: ZipEntryInfo[];
      try {
        listed = await listZip(path);
      } catch (error) {
        plan.refused.push({ path: where, reason: 'bad-zip', message: reasonOf(error) });
        return;
      }
      const entries: ZipEntryInfo[] = [];
      for (const e of listed) {
        const skip = hidden(e.name)
          ? 'hidden'
          : isDicomdirName(basename(e.name))
            ? 'DICOMDIR'
            : null;
        if (skip) plan.skipped.push({ path: `${where}!${e.name}`, reason: skip });
        else entries.push(e);
      }
      plan.entries.push({ kind: 'zip', path: where, entries });
      plan.files += entries.length;
      plan.bytes += entries.reduce((n, e) => n + e.size, 0);
    }
  }

  /** Plans a medium from its DICOMDIR; false when the DICOMDIR cannot be read. */
  private async addMedium(plan: ImportPlan, dir: string, name: string): Promise<boolean> {
    const dicomdir = join(dir, name);
    let refs: string[][];
    try {
      if ((await stat(dicomdir)).size > MAX_DICOMDIR_BYTES) throw new Error('too large to read');
      refs = await referencedFiles(await readFile(dicomdir));
    } catch (error) {
      plan.refused.push({
        path: rel(plan, dicomdir),
        reason: 'bad-dicomdir',
        message: `cannot be read (${reasonOf(error)}): every file of its folder is imported instead`,
      });
      return false;
    }
    plan.skipped.push({
      path: rel(plan, dicomdir),
      reason: 'DICOMDIR (the files it references are imported)',
    });
    const found = new Map<string, { path: string; size: number }>();
    await this.collect(dir, dir, found);
    const taken = new Set<string>();
    for (const ref of refs) {
      const key = ref.join('/').toLowerCase();
      const file = found.get(key);
      if (!file) {
        plan.refused.push({
          path: rel(plan, join(dir, ...ref)),
          reason: 'missing',
          message: 'referenced by the DICOMDIR but not on the medium',
        });
      } else if (!taken.has(key)) {
        taken.add(key);
        await this.addFile(plan, file.path, file.size);
      }
    }
    for (const [key, file] of found) {
      if (!taken.has(key) && !isDicomdirName(basename(file.path))) {
        plan.skipped.push({ path: rel(plan, file.path), reason: 'not referenced by the DICOMDIR' });
      }
    }
    return true;
  }

  /** Every file under `dir`, by its lower-case path relative to `base`. */
  private async collect(
    base: string,
    dir: string,
    found: Map<string, { path: string; size: number }>,
  ): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      const info = e.isSymbolicLink() ? await stat(path).catch(() => null) : e;
      if (info?.isDirectory() && !e.isSymbolicLink()) await this.collect(base, path, found);
      else if (info?.isFile()) {
        found.set(relative(base, path).split(sep).join('/').toLowerCase(), {
          path,
          size: (await stat(path)).size,
        });
      }
    }
  }
}

function emptyPlan(target: string, root: string): ImportPlan {
  return { target, root, entries: [], skipped: [], refused: [], files: 0, bytes: 0 };
}

function rel(plan: ImportPlan, path: string): string {
  return relative(plan.root, path).split(sep).join('/') || '.';
}
