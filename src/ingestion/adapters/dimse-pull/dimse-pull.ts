import { type Readable } from 'node:stream';
import { inWindow, type TimeWindow } from '../../../config/index.js';
import { type Database } from '../../../database/index.js';
import { decodeDataSet, type DicomJsonDataset, encodeDataSet } from '../../../dicom/index.js';
import {
  AssociationClosedError,
  AssociationRejectedError,
  CommandField,
  type ContextRequest,
  DimseClient,
  type DimseClientTls,
  DimseStatus,
  DimseTimeoutError,
  type QueryResponse,
  type StoreRequest,
  statusCategory,
} from '../../../dimse/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { type IngestionService } from '../../ingestion.service.js';
import { type CountedOutcome } from '../adapter-activity.js';
import { storeStatus } from '../dimse-push/store-status.js';
import { PullCheckpointRepository } from '../pull/pull-checkpoint.repository.js';
import { countIngest, emptyPullResult, type PullResult } from '../pull/pull-result.js';
import {
  covers,
  EXPLICIT_LE,
  getContexts,
  IMPLICIT_LE,
  storageClassesFor,
  STUDY_ROOT_FIND,
  STUDY_ROOT_GET,
  STUDY_ROOT_MOVE,
} from './get-contexts.js';
import { Pace } from './pace.js';
import { type StudyMatch, studyMatch, studyQueries } from './study-query.js';
import { StudyBytesRepository } from './study-bytes.repository.js';

export const DIMSE_PULL = 'dimse-pull';

export interface DimsePullSource {
  name: string;
  /** The PACS: its AE title (called), host and port, from dicom.peers; tls when it wants TLS. */
  peer: { aet: string; host: string; port: number; tls?: DimseClientTls };
  /** Our AE title on the associations we open. */
  callingAet: string;
  /** C-MOVE: where the PACS sends the instances (this archive's AE, which it must know). */
  moveDestination: string;
  retrieve: 'move' | 'get';
  /** Study-level C-FIND keys (STUDY_QUERY_KEYS). */
  query?: Record<string, string>;
  accessionNumbers?: string[];
  /** Studies retrieved at once, each on its own association. */
  associations: number;
  instancesPerSecond: number | null;
  /** Hours in which the pull may work; it stops (checkpointed) when the window closes. */
  window: TimeWindow | null;
  /** How long the PACS may stay silent on a request before the association is aborted. */
  responseTimeoutMs: number;
}

interface Cursor {
  /** Studies retrieved whole, with the instance count they had. */
  studies: Record<string, number>;
}

/** Why a run stops early; the message is the PullResult's error. */
class PullStop extends Error {}

const QR_TRANSFER_SYNTAXES = [EXPLICIT_LE, IMPLICIT_LE];
/** Retrievals refused outright in a row after which a run stops: the PACS, not the study. */
const REFUSALS_TO_STOP = 3;

/**
 * The dimse-pull adapter's runs: how an archive drains an old PACS. Study-level C-FINDs select
 * the studies (by the source's keys, a date range day by day, or a list of accession numbers);
 * each study not yet pulled whole is retrieved with C-MOVE to this archive (its C-STOREs arrive
 * at the dimse-push listener, which records them under the peer's source: this one) or with
 * C-GET on the same association, straight into the pipeline. A study is checkpointed once all
 * its instances are in, so a run that stops (the PACS went away, the schedule window closed,
 * Ctrl-C) goes on from there, and a second run fetches nothing new.
 */
export class DimsePuller {
  private readonly checkpoints = new PullCheckpointRepository();
  private readonly studyBytes = new StudyBytesRepository();

  constructor(
    private readonly db: Database,
    private readonly ingestion: IngestionService,
    /** Sees each instance (the adapter's counters). */
    private readonly tally?: (source: string, outcome: CountedOutcome, bytes: number) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async pull(
    source: DimsePullSource,
    onProgress?: (r: PullResult) => void,
    signal?: AbortSignal,
  ): Promise<PullResult> {
    const cursor = (await this.checkpoints.get<Cursor>(this.db, source.name)) ?? { studies: {} };
    const result = emptyPullResult(source.name, DIMSE_PULL, {
      studies: Object.keys(cursor.studies).length,
    });
    const run: Run = {
      source,
      cursor,
      result,
      pace: new Pace(source.instancesPerSecond),
      signal,
      onProgress,
      incomplete: 0,
      refusedInARow: 0,
      lastRefusal: null,
      saving: Promise.resolve(),
    };
    let finder: DimseClient | null = null;
    try {
      for (const identifier of studyQueries(source.query, source.accessionNumbers)) {
        this.checkRunning(run);
        finder ??= await this.connect(source, [
          { abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: QR_TRANSFER_SYNTAXES },
        ]);
        const todo = (await this.find(finder, identifier, run)).filter(
          (m) =>
            !(m.studyInstanceUid in cursor.studies) ||
            (m.instances ?? 0) > cursor.studies[m.studyInstanceUid]!,
        );
        if (todo.length === 0) continue;
        // A PACS closes an idle association (Orthanc after 30 s): no holding one across retrievals.
        await release(finder);
        finder = null;
        await this.retrieveAll(run, todo);
      }
      if (run.incomplete > 0) {
        result.error =
          `${run.incomplete} ${run.incomplete === 1 ? 'study' : 'studies'} not retrieved whole, ` +
          `retried next run${run.lastRefusal ? `; last: ${run.lastRefusal}` : ''}`;
      }
    } catch (err) {
      result.error = describe(err, source);
    } finally {
      if (finder) await release(finder);
      await run.saving;
    }
    result.cursor = { studies: Object.keys(cursor.studies).length };
    return result;
  }

  /** One study-level C-FIND: its matches, in the order the PACS gave them. */
  private async find(
    client: DimseClient,
    identifier: DicomJsonDataset,
    run: Run,
  ): Promise<StudyMatch[]> {
    const ts = this.transferSyntax(client, STUDY_ROOT_FIND);
    const matches: StudyMatch[] = [];
    const final = await client.query({
      commandField: CommandField.CFindRq,
      sopClassUid: STUDY_ROOT_FIND,
      transferSyntaxUid: ts,
      identifier: encodeDataSet(identifier, ts),
      signal: run.signal,
      onPending: (r) => {
        if (!r.dataset) return;
        const m = studyMatch(decodeDataSet(r.dataset, ts));
        if (m && !matches.some((x) => x.studyInstanceUid === m.studyInstanceUid)) matches.push(m);
      },
    });
    if (final.status === DimseStatus.Cancel) throw new PullStop('stopped');
    if (statusCategory(final.status) === 'failure') {
      throw new PullStop(
        `the PACS refused the C-FIND (status 0x${hex(final.status)}${comment(final)})`,
      );
    }
    return matches;
  }

  /** Retrieves studies on up to `associations` associations at once, each taking the next study. */
  private async retrieveAll(run: Run, studies: StudyMatch[]): Promise<void> {
    let next = 0;
    let stop: unknown = null;
    const worker = async (): Promise<void> => {
      let client: DimseClient | null = null;
      let proposed = new Set<string>();
      try {
        while (stop === null && next < studies.length) {
          const study = studies[next++]!;
          this.checkRunning(run);
          if (
            run.source.retrieve === 'get' &&
            (client === null || !covers(proposed, study.sopClasses))
          ) {
            if (client) await release(client);
            client = null;
            const contexts = getContexts(study.sopClasses);
            client = await this.connect(run.source, contexts, (req, data) =>
              this.storeFromGet(run, req, data),
            );
            proposed = new Set(storageClassesFor(study.sopClasses));
          }
          client ??= await this.connect(run.source, [
            { abstractSyntax: STUDY_ROOT_MOVE, transferSyntaxes: QR_TRANSFER_SYNTAXES },
          ]);
          await this.retrieveStudy(run, client, study);
        }
      } catch (err) {
        stop ??= err;
      } finally {
        if (client) await release(client);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(run.source.associations, studies.length) }, worker),
    );
    if (stop !== null) throw stop;
  }

  private async retrieveStudy(run: Run, client: DimseClient, study: StudyMatch): Promise<void> {
    const { source, result } = run;
    const move = source.retrieve === 'move';
    const model = move ? STUDY_ROOT_MOVE : STUDY_ROOT_GET;
    const ts = this.transferSyntax(client, model);
    // A C-MOVE is paced by the study (the PACS sends it as fast as it likes); a C-GET's
    // sub-operations each wait for their turn in storeFromGet.
    if (move) await run.pace.take(study.instances ?? 1, run.signal);
    this.checkRunning(run);
    const final = await client.query({
      commandField: move ? CommandField.CMoveRq : CommandField.CGetRq,
      sopClassUid: model,
      transferSyntaxUid: ts,
      identifier: encodeDataSet(
        {
          '00080052': { vr: 'CS', Value: ['STUDY'] },
          '0020000D': { vr: 'UI', Value: [study.studyInstanceUid] },
        },
        ts,
      ),
      moveDestination: move ? source.moveDestination : undefined,
      signal: run.signal,
    });
    const c = final.command;
    const completed = c.numberOfCompletedSuboperations ?? 0;
    const warning = c.numberOfWarningSuboperations ?? 0;
    const failed = c.numberOfFailedSuboperations ?? 0;
    if (move) {
      // The instances went through dimse-push; what the PACS counted is what this run did.
      const bytes =
        completed + warning > 0 ? await this.studyBytes.of(this.db, study.studyInstanceUid) : 0;
      result.fetched += completed + warning + failed;
      result.stored += completed + warning;
      result.refused += failed;
      result.bytes += bytes;
      if (failed > 0)
        result.refusedBy['sub-operation-failed'] =
          (result.refusedBy['sub-operation-failed'] ?? 0) + failed;
      for (let i = 0; i < completed + warning; i++)
        this.tally?.(source.name, 'stored', i === 0 ? bytes : 0);
      for (let i = 0; i < failed; i++) this.tally?.(source.name, 'refused', 0);
    }
    if (final.status === DimseStatus.Cancel) throw new PullStop('stopped');
    if (final.status === DimseStatus.MoveDestinationUnknown) {
      throw new PullStop(
        `the PACS does not know the move destination ${source.moveDestination}: add this archive to its DICOM nodes`,
      );
    }
    const category = statusCategory(final.status);
    const whole =
      (category === 'success' || category === 'warning') &&
      failed === 0 &&
      (study.instances === null || completed + warning >= study.instances);
    if (whole) {
      run.cursor.studies[study.studyInstanceUid] = study.instances ?? completed + warning;
      const saved = this.checkpoints.save(this.db, source.name, DIMSE_PULL, run.cursor);
      run.saving = run.saving.then(() => saved);
      await saved;
      run.refusedInARow = 0;
    } else if (category === 'failure' && completed + warning + failed === 0) {
      // The PACS refused the retrieval outright. Orthanc answers an unknown destination so
      // (0xC000, no comment), not with 0xA801; a few in a row is no longer about one study.
      run.incomplete++;
      run.lastRefusal =
        `the PACS refused the ${move ? 'C-MOVE' : 'C-GET'} (status 0x${hex(final.status)}${comment(final)})` +
        (move ? `: does it know ${source.moveDestination} as a move destination?` : '');
      if (++run.refusedInARow >= REFUSALS_TO_STOP) {
        throw new PullStop(`${run.lastRefusal} (${REFUSALS_TO_STOP} studies in a row)`);
      }
    } else {
      // Sub-operations failed: retried next run.
      run.incomplete++;
      run.refusedInARow = 0;
    }
    run.onProgress?.(result);
  }

  /** A C-GET sub-operation: into the pipeline, under this source, paced. */
  private async storeFromGet(run: Run, req: StoreRequest, data: Readable) {
    await run.pace.take(1, run.signal);
    const outcome: IngestResult = await this.ingestion.ingest({
      adapter: DIMSE_PULL,
      source: run.source.name,
      actor: run.source.peer.aet,
      callingAet: run.source.peer.aet,
      remoteHost: run.source.peer.host,
      framing: 'dataset',
      transferSyntaxUid: req.transferSyntaxUid,
      data,
      expected: {
        sopInstanceUid: req.affectedSopInstanceUid,
        sopClassUid: req.affectedSopClassUid,
      },
    });
    countIngest(run.result, outcome, outcome.ok ? outcome.bytes : 0);
    this.tally?.(
      run.source.name,
      outcome.ok ? (outcome.outcome === 'kept-first' ? 'duplicate' : outcome.outcome) : 'refused',
      outcome.ok ? outcome.bytes : 0,
    );
    return storeStatus(outcome);
  }

  private connect(
    source: DimsePullSource,
    contexts: ContextRequest[],
    onStore?: (
      req: StoreRequest,
      data: Readable,
    ) => Promise<{ status: number; errorComment?: string }>,
  ): Promise<DimseClient> {
    return DimseClient.connect({
      host: source.peer.host,
      port: source.peer.port,
      callingAet: source.callingAet,
      calledAet: source.peer.aet,
      ...(source.peer.tls ? { tls: source.peer.tls } : {}),
      contexts,
      responseTimeoutMs: source.responseTimeoutMs,
      ...(onStore ? { onStore } : {}),
    });
  }

  private transferSyntax(client: DimseClient, model: string): string {
    const [ts] = client.acceptedTransferSyntaxes(model);
    if (!ts)
      throw new PullStop(
        `the PACS does not offer ${modelName(model)} (presentation context refused)`,
      );
    return ts;
  }

  private checkRunning(run: Run): void {
    if (run.signal?.aborted) throw new PullStop('stopped');
    if (!inWindow(run.source.window, this.now())) {
      throw new PullStop('stopped: outside the schedule window');
    }
  }
}

interface Run {
  source: DimsePullSource;
  cursor: Cursor;
  result: PullResult;
  pace: Pace;
  signal: AbortSignal | undefined;
  onProgress: ((r: PullResult) => void) | undefined;
  /** Studies retrieved with failures this run (not checkpointed). */
  incomplete: number;
  /** Retrievals the PACS refused outright, consecutively, and the last one's description. */
  refusedInARow: number;
  lastRefusal: string | null;
  /** Checkpoint writes in flight, in order. */
  saving: Promise<void>;
}

async function release(client: DimseClient): Promise<void> {
  try {
    await client.release();
  } catch {
    client.abort();
  }
}

/** The run's error, for people: never patient data (the PACS's comments are status text). */
function describe(err: unknown, source: DimsePullSource): string {
  const where = `${source.peer.aet}@${source.peer.host}:${source.peer.port}`;
  if (err instanceof PullStop) return err.message;
  if (err instanceof AssociationRejectedError)
    return `${where} rejected the association (${err.message})`;
  if (err instanceof DimseTimeoutError) return `${where} did not answer in time (${err.message})`;
  if (err instanceof AssociationClosedError)
    return `the association to ${where} was lost (${err.message})`;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'ECONNRESET'
  ) {
    return `source unreachable: ${where} (${code})`;
  }
  return `pull failed: ${err instanceof Error ? err.message : String(err)}`;
}

function modelName(uid: string): string {
  return uid === STUDY_ROOT_FIND
    ? 'Study Root C-FIND'
    : uid === STUDY_ROOT_MOVE
      ? 'Study Root C-MOVE'
      : 'Study Root C-GET';
}

function hex(status: number): string {
  return status.toString(16).toUpperCase().padStart(4, '0');
}

function comment(r: QueryResponse): string {
  return r.errorComment ? `: ${r.errorComment}` : '';
}
