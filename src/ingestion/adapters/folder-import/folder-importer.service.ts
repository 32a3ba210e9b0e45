import { Inject, Injectable } from '@nestjs/common';
import { type Readable } from 'node:stream';
import { STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { Database } from '../../../database/index.js';
import { IngestionService } from '../../ingestion.service.js';
import {
  type ImportItem,
  ImportFilesRepository,
  type ImportPlan,
} from './import-files.repository.js';
import { ImportJournalRepository } from './import-journal.repository.js';
import { type ImportFileResult, type ImportSummary, summarize } from './import-result.js';

export const FOLDER_IMPORT = 'folder-import';

/** Who imports, under which source, for the pipeline and the audit trail. */
export interface ImportIdentity {
  source: string;
  /** 'cli:<user>', 'folder-import:<source>'. */
  actor: string;
  host: string | null;
}

export interface ImportProgress {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * Imports files through the one ingestion pipeline, one at a time: a whole planned folder as a
 * journaled, resumable run (`strata import`), or one file of a drop folder. A file the pipeline
 * refuses (not DICOM, truncated, malformed...) is recorded with the pipeline's reason and the
 * import goes on; so does one that cannot be read ('unreadable').
 */
@Injectable()
export class FolderImporter {
  private readonly files = new ImportFilesRepository();
  private readonly journal = new ImportJournalRepository();
  /** Files journaled by this process (for the test failpoint 'import:file:<N>'). */
  private journaled = 0;

  constructor(
    private readonly ingestion: IngestionService,
    private readonly db: Database,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
  ) {}

  plan(target: string): Promise<ImportPlan> {
    return this.files.plan(target);
  }

  /**
   * Runs (or resumes: the unfinished run of the same target and source) the import of a plan.
   * Files journaled in the run already are not read again; each file is journaled once the
   * pipeline has answered for it, so a run killed at any point loses at most the answer for the
   * file in flight, which the next run sends again (the same bytes: a duplicate, stored once).
   */
  async run(
    plan: ImportPlan,
    who: ImportIdentity,
    onProgress: (p: ImportProgress) => void = () => undefined,
  ): Promise<ImportSummary> {
    const run = await this.journal.open(this.db, plan.target, who.source, who.actor);
    const done = await this.journal.donePaths(this.db, run.id);
    for (const r of plan.refused) {
      await this.journal.record(this.db, run.id, refusal(r.path, 0, r.reason, r.message));
    }
    const progress = { done: 0, total: plan.files, bytesDone: 0, bytesTotal: plan.bytes };
    // The archive's own failures (a full disk...) are not the file's: left out of the journal and
    // the run left unfinished, so that running the same import again retries just those.
    const retry: ImportFileResult[] = [];
    for await (const item of this.files.items(plan)) {
      if (!done.has(item.path)) {
        const result = await this.ingestItem(item, who);
        if (result.reason === 'storage-failure') retry.push(result);
        else await this.journal.record(this.db, run.id, result);
        this.failpoint(++this.journaled);
      }
      progress.done++;
      progress.bytesDone += item.size;
      onProgress(progress);
    }
    if (retry.length === 0) await this.journal.finish(this.db, run.id);
    const results = [...(await this.journal.results(this.db, run.id)), ...retry];
    return {
      ...summarize({ ...run, target: plan.target, source: who.source }, results, plan.skipped),
      unfinished: retry.length > 0,
    };
  }

  /** Imports one file (a zip: its entries), unjournaled: a drop folder's. */
  async importFile(path: string, who: ImportIdentity): Promise<ImportFileResult[]> {
    const plan = await this.files.planFile(path);
    const results = plan.refused.map((r) => refusal(r.path, 0, r.reason, r.message));
    for await (const item of this.files.items(plan)) results.push(await this.ingestItem(item, who));
    return results;
  }

  private async ingestItem(item: ImportItem, who: ImportIdentity): Promise<ImportFileResult> {
    let data: Readable;
    try {
      data = await item.open();
    } catch (error) {
      return refusal(item.path, item.size, 'unreadable', (error as Error).message);
    }
    // A read error (a damaged zip entry, an I/O error) is the file's fault, not the archive's.
    let readError: Error | null = null;
    data.once('error', (e: Error) => (readError = e));
    const result = await this.ingestion.ingest({
      adapter: FOLDER_IMPORT,
      source: who.source,
      actor: who.actor,
      callingAet: null,
      remoteHost: who.host,
      framing: 'part10',
      data,
    });
    if (result.ok) {
      return {
        path: item.path,
        bytes: result.bytes,
        outcome: result.outcome,
        reason: null,
        message: null,
        sopInstanceUid: result.sopInstanceUid,
      };
    }
    const unreadable = readError !== null && ['aborted', 'storage-failure'].includes(result.reason);
    return refusal(
      item.path,
      item.size,
      unreadable ? 'unreadable' : result.reason,
      unreadable
        ? `the file could not be read: ${(readError as Error | null)?.message}`
        : result.message,
      result.sopInstanceUid ?? null,
    );
  }

  private failpoint(n: number): void {
    if (this.config.testFailpoint === `import:file:${n}`) process.kill(process.pid, 'SIGKILL');
  }
}

function refusal(
  path: string,
  bytes: number,
  reason: string,
  message: string,
  sopInstanceUid: string | null = null,
): ImportFileResult {
  return { path, bytes, outcome: 'refused', reason, message, sopInstanceUid };
}
