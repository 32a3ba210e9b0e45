import { type DynamicModule, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Presets, SingleBar } from 'cli-progress';
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { DimseModule } from '../dimse/index.js';
import {
  FolderImporter,
  FolderImportModule,
  type ImportProgress,
  type ImportSummary,
} from '../ingestion/index.js';

export const IMPORT_USAGE = `usage: strata import PATH [--source NAME] [--resume] [--json]

Imports DICOM Part 10 files through the ingestion pipeline (the same checks, duplicate policy and
audit trail as C-STORE and STOW-RS) from PATH:
  a folder     walked recursively (hidden files and folders are skipped)
  a zip file   its entries, read in place (zip files found in a folder too)
  a DICOMDIR   or a folder holding one: the files its directory records reference
  a file       one Part 10 file
Files that are not DICOM, truncated or malformed are refused and listed with the reason; the
rest is imported.

  --source NAME  the source the instances are recorded under (policies, ledger); default 'import'.
                 A configured source must be a folder-import one
  --resume       go on with the interrupted import of PATH (running the same command again does
                 too: files already done are not read again)
  --json         the summary as JSON (every refused and skipped file with its reason)

The run is journaled in the catalog. Progress goes to stderr, the summary to stdout. Exits 0
when every file was stored or was already in the archive, 1 when any was refused, 2 on a usage
error.`;

const SOURCE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

@Module({})
class ImportCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: ImportCliModule,
      // DimseModule: the ingestion context registers its DIMSE services there (never served here).
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        DimseModule,
        FolderImportModule,
      ],
    };
  }
}

/** Nest's own logger writes to stdout, where the summary (and --json) goes: keep it on stderr. */
const stderrLogger: LoggerService = {
  log: () => undefined,
  warn: (m: unknown) => console.error(`warning: ${String(m)}`),
  error: (m: unknown) => console.error(`error: ${String(m)}`),
};

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${IMPORT_USAGE}`);
  return 2;
}

export async function importCommand(
  argv: string[],
  log: { log: (m: string) => void; warn: (m: string) => void },
): Promise<number> {
  let parsed: {
    values: { source?: string; resume?: boolean; json?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        source: { type: 'string' },
        resume: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [target, ...extra] = parsed.positionals;
  const source = parsed.values.source ?? 'import';
  if (!target) return usageError('which PATH?');
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  if (!existsSync(target)) return usageError(`${target}: no such file or folder`);
  if (!SOURCE.test(source))
    return usageError('--source: a source name is letters, digits, . _ : -');
  const config = loadConfig();
  const configured = config.sources[source];
  if (configured && configured.adapter !== 'folder-import') {
    return usageError(`--source: '${source}' is a ${configured.adapter} source`);
  }
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    ImportCliModule.forRoot(config, db.database),
    { logger: stderrLogger },
  );
  try {
    const importer = app.get(FolderImporter);
    const plan = await importer.plan(resolve(target));
    const summary = await withProgress((onProgress) =>
      importer.run(
        plan,
        { source, actor: `cli:${userInfo().username}`, host: hostname() },
        onProgress,
      ),
    );
    if (parsed.values.resume && !summary.resumed) {
      log.warn(`there was no interrupted import of ${plan.target} (source ${source}): it ran anew`);
    }
    console.log(parsed.values.json ? JSON.stringify(summary, null, 2) : describe(summary));
    return summary.refusedCount > 0 || summary.unfinished ? 1 : 0;
  } finally {
    await app.close();
    await db.close();
  }
}

/** A progress bar on stderr (files done of all, MB) while `work` runs. */
async function withProgress<T>(
  work: (onProgress: (p: ImportProgress) => void) => Promise<T>,
): Promise<T> {
  const bar = new SingleBar(
    { format: 'importing |{bar}| {value}/{total} files, {mb}/{mbTotal} MB', hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(1, 0, { mb: '0.0', mbTotal: '0.0' });
  try {
    return await work((p) => {
      bar.setTotal(Math.max(p.total, 1));
      bar.update(p.done, {
        mb: (p.bytesDone / 1e6).toFixed(1),
        mbTotal: (p.bytesTotal / 1e6).toFixed(1),
      });
    });
  } finally {
    bar.stop();
  }
}

/** The summary for people: figures, then every refused file by reason, then skips by reason. */
function describe(s: ImportSummary): string {
  const lines = [
    `import run ${s.run}${s.resumed ? ' (resumed)' : ''} of ${s.target}, source ${s.source}: ${s.files} file(s)`,
    `  stored: ${s.stored}, new versions: ${s.newVersions}, duplicates: ${s.duplicates}, ` +
      `kept first: ${s.keptFirst}, refused: ${s.refusedCount}; ${(s.bytes / 1e6).toFixed(1)} MB`,
  ];
  const byReason = new Map<string, ImportSummary['refused']>();
  for (const r of s.refused) byReason.set(r.reason, [...(byReason.get(r.reason) ?? []), r]);
  if (byReason.size > 0) lines.push('refused:');
  for (const [reason, files] of byReason) {
    lines.push(`  ${reason} (${files.length}):`);
    for (const f of files) lines.push(`    ${f.path}: ${f.message}`);
  }
  const skipped = new Map<string, number>();
  for (const k of s.skipped) skipped.set(k.reason, (skipped.get(k.reason) ?? 0) + 1);
  if (skipped.size > 0) {
    const parts = [...skipped].map(([reason, n]) => `${reason}: ${n}`);
    lines.push(`skipped ${s.skipped.length} (${parts.join(', ')})`);
  }
  if (s.unfinished) {
    lines.push('some files met an archive error: run the same command again to retry them');
  }
  return lines.join('\n');
}
