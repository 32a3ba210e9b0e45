import { Inject, Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatalogReadService, type RetrievableInstance } from '../catalog/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { decodeDataSet, encodeDataSet, isDicomFormatError } from '../dicom/index.js';
import {
  CommandField,
  DimseClient,
  type DimseReplyChannel,
  type DimseResponse,
  type DimseResult,
  DimseServiceRegistry,
  type DimseServiceHandler,
  DimseStatus,
  type OtherCommandRequest,
  statusCategory,
} from '../dimse/index.js';
import { BlobStore } from '../storage/index.js';
import { RestoreCoordinator } from './restore-coordinator.service.js';
import {
  readRetrieveKeys,
  RETRIEVE_SOP_CLASSES,
  RetrieveIdentifierError,
  type RetrieveKeys,
} from './retrieve-identifier.js';
import { RetrievalAudit } from './retrieval-audit.service.js';
import { RetrievalMetrics } from './retrieval-metrics.js';

/** Largest identifier read. */
const MAX_IDENTIFIER_BYTES = 1024 * 1024;
/** Pending responses at most this often (each sub-operation would flood slow SCUs). */
const PENDING_EVERY_MS = 200;
/** Failure: unable to perform sub-operations (PS3.4 C.4.2.1.5). */
const UNABLE_TO_PERFORM_SUBOPERATIONS = 0xa702;
/** Warning: sub-operations complete, one or more failures. */
const SUBOPERATIONS_WITH_FAILURES = 0xb000;
/** Failure: identifier does not match SOP class. */
const IDENTIFIER_MISMATCH = 0xa900;

interface Counts {
  remaining: number;
  completed: number;
  failed: number;
  warning: number;
}

/** Where sub-operations go: a new association to the move destination, or the C-GET's own. */
interface SubOperationTarget {
  transferSyntaxes(sopClassUid: string): string[];
  store(req: Parameters<DimseReplyChannel['store']>[0]): Promise<DimseResult>;
  close(): Promise<void>;
}

async function readAll(data: Readable | null): Promise<Buffer | null> {
  if (!data) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_IDENTIFIER_BYTES) {
      data.destroy();
      return null;
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}

/**
 * C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3) for the Patient Root and Study Root models. The
 * instances the identifier names are sent, each as stored (the bytes received, decrypted on the
 * fly, never transcoded) as a C-STORE sub-operation: to a known peer (config dicom.peers) on a new
 * association for C-MOVE, on the requester's association for C-GET. Pending responses carry the
 * sub-operation counts; C-CANCEL stops between sub-operations (final status Cancel); the final
 * status is Success, Warning B000 with the Failed SOP Instance UID List, or a failure. Studies
 * with copies in an archive class are restored first: answered at once with a failure naming when
 * (dicom.retrieveArchived 'fail'), or waited for ('wait').
 */
@Injectable()
export class DimseRetrieveService implements DimseServiceHandler, OnModuleInit {
  readonly name = 'query-retrieve (move, get)';
  readonly sopClasses = Object.values(RETRIEVE_SOP_CLASSES);
  private readonly logger = new Logger('Retrieval');

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly registry: DimseServiceRegistry,
    private readonly catalog: CatalogReadService,
    private readonly blobs: BlobStore,
    private readonly restores: RestoreCoordinator,
    private readonly audit: RetrievalAudit,
    @Optional() private readonly metrics?: RetrievalMetrics,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  handle(req: OtherCommandRequest, reply: DimseReplyChannel): Promise<DimseResponse | undefined> {
    const field = req.command.commandField;
    const protocol = field === CommandField.CMoveRq ? 'c-move' : 'c-get';
    if (!this.metrics) return this.answer(req, reply);
    return this.metrics.dimse(protocol, req.abstractSyntaxUid, () => this.answer(req, reply));
  }

  private async answer(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> {
    const field = req.command.commandField;
    const move = field === CommandField.CMoveRq;
    if (!move && field !== CommandField.CGetRq) return undefined;
    const patientRoot =
      req.abstractSyntaxUid === RETRIEVE_SOP_CLASSES.patientRootMove ||
      req.abstractSyntaxUid === RETRIEVE_SOP_CLASSES.patientRootGet;
    const failure = (status: number, errorComment: string): DimseResponse => ({
      status,
      errorComment: errorComment.slice(0, 64),
    });

    let destination: StrataConfig['dicom']['peers'][string] | undefined;
    if (move) {
      const ae = (req.command.moveDestination ?? '').trim();
      destination = this.config.dicom.peers[ae];
      if (!destination)
        return failure(DimseStatus.MoveDestinationUnknown, 'Move destination unknown');
    }
    const bytes = await readAll(req.data);
    if (bytes === null) return failure(DimseStatus.OutOfResources, 'Identifier too large');
    let keys: RetrieveKeys;
    try {
      keys = readRetrieveKeys(decodeDataSet(bytes, req.transferSyntaxUid), patientRoot);
    } catch (error) {
      if (error instanceof RetrieveIdentifierError || isDicomFormatError(error)) {
        return failure(IDENTIFIER_MISMATCH, (error as Error).message);
      }
      throw error;
    }
    const instances = await this.resolve(keys);
    const who = {
      actor: req.association.callingAet,
      role: null,
      host: req.association.remoteAddress,
    };
    if (instances.some((i) => i.location === null)) {
      return failure(UNABLE_TO_PERFORM_SUBOPERATIONS, 'An instance has no readable copy now');
    }
    const ready = await this.awaitRestores(instances, who, req, reply);
    if (ready !== true) return ready;

    const counts: Counts = { remaining: instances.length, completed: 0, failed: 0, warning: 0 };
    const failedUids: string[] = [];
    let target: SubOperationTarget | null = null;
    let ahead: ReadAhead | null = null;
    let lastPending = 0;
    let cancelled = false;
    try {
      if (instances.length > 0) {
        target = move ? await this.connect(destination!, instances) : this.sameAssociation(reply);
        const to = target;
        ahead = new ReadAhead((n) => {
          const i = instances[n];
          // Not opened when the peer takes neither the SOP class nor the stored transfer syntax.
          if (!i || !to.transferSyntaxes(i.sopClassUid).includes(i.transferSyntaxUid)) return null;
          return this.blobs.openPlaintext(i.location!, i.studyInstanceUid);
        });
      }
      for (const [n, instance] of instances.entries()) {
        if (req.signal.aborted) {
          cancelled = true;
          break;
        }
        const data = await ahead!.take(n);
        const ok = data
          ? await this.subOperation(target!, instance, data, move ? req : null)
          : 'failure';
        counts.remaining--;
        if (ok === 'success') counts.completed++;
        else if (ok === 'warning') counts.warning++;
        else {
          counts.failed++;
          failedUids.push(instance.sopInstanceUid);
        }
        if (counts.remaining > 0 && Date.now() - lastPending >= PENDING_EVERY_MS) {
          lastPending = Date.now();
          await reply.sendPending({ status: DimseStatus.Pending, command: commandCounts(counts) });
        }
      }
    } catch (error) {
      // The destination refused the association or went away: what was not sent failed.
      this.logger.warn(
        `${move ? 'C-MOVE' : 'C-GET'} sub-operations stopped: ${error instanceof Error ? error.message : String(error)}`,
      );
      for (const i of instances.slice(counts.completed + counts.warning + counts.failed)) {
        failedUids.push(i.sopInstanceUid);
      }
      counts.failed += counts.remaining;
      counts.remaining = 0;
    } finally {
      ahead?.close();
      await target?.close().catch(() => undefined);
      await this.auditRetrieve(instances, who, move ? destination!.aeTitle : null, counts);
    }
    const final = finalStatus(counts, cancelled);
    return {
      status: final,
      command: commandCounts(counts, final),
      ...(failedUids.length > 0 && final !== DimseStatus.Success
        ? {
            dataset: encodeDataSet(
              { '00080058': { vr: 'UI', Value: failedUids } },
              req.transferSyntaxUid,
            ),
          }
        : {}),
    };
  }

  /** The instances the keys name, in catalog order (current versions, best locations). */
  private async resolve(keys: RetrieveKeys): Promise<RetrievableInstance[]> {
    const studies =
      keys.level === 'PATIENT'
        ? await this.catalog.studyUidsOfPatients(keys.patientIds)
        : keys.studyInstanceUids;
    const out: RetrievableInstance[] = [];
    const series = new Set(keys.seriesInstanceUids);
    const sops = new Set(keys.sopInstanceUids);
    for (const study of studies) {
      const found = await this.catalog.findInstancesForRetrieval({ studyInstanceUid: study });
      for (const i of found) {
        if (keys.level === 'PATIENT' || keys.level === 'STUDY') out.push(i);
        else if (!series.has(i.seriesInstanceUid)) continue;
        else if (keys.level === 'SERIES' || sops.has(i.sopInstanceUid)) out.push(i);
      }
    }
    return out;
  }

  /** true when every copy is readable; else the final response (or waits, by configuration). */
  private async awaitRestores(
    instances: RetrievableInstance[],
    who: { actor: string; role: null; host: string },
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<true | DimseResponse> {
    const byStudy = new Map<string, RetrievableInstance[]>();
    for (const i of instances) {
      const list = byStudy.get(i.studyInstanceUid) ?? [];
      list.push(i);
      byStudy.set(i.studyInstanceUid, list);
    }
    const deadline = Date.now() + this.config.dicom.archivedWaitMs;
    for (const [study, list] of byStudy) {
      for (;;) {
        const state = await this.restores.check(
          study,
          list.map((i) => i.location!),
          who,
        );
        if (state.ready) break;
        if (this.config.dicom.retrieveArchived === 'fail' || Date.now() > deadline) {
          return {
            status: UNABLE_TO_PERFORM_SUBOPERATIONS,
            errorComment: `Restoring from archive; ready ~${state.expectedAt.toISOString().slice(0, 16)}Z`,
          };
        }
        if (req.signal.aborted) return { status: DimseStatus.Cancel };
        await reply.sendPending({
          status: DimseStatus.Pending,
          command: commandCounts({
            remaining: instances.length,
            completed: 0,
            failed: 0,
            warning: 0,
          }),
        });
        await sleep(Math.min(10_000, Math.max(1000, state.expectedAt.getTime() - Date.now())));
      }
    }
    return true;
  }

  private async subOperation(
    target: SubOperationTarget,
    instance: RetrievableInstance,
    data: Readable,
    move: OtherCommandRequest | null,
  ): Promise<'success' | 'warning' | 'failure'> {
    const result = await target.store({
      sopClassUid: instance.sopClassUid,
      sopInstanceUid: instance.sopInstanceUid,
      transferSyntaxUid: instance.transferSyntaxUid,
      data,
      ...(move
        ? {
            moveOriginator: {
              aet: move.association.callingAet,
              messageId: move.command.messageId ?? 0,
            },
          }
        : {}),
    });
    const category = statusCategory(result.status);
    return category === 'success' ? 'success' : category === 'warning' ? 'warning' : 'failure';
  }

  private async connect(
    peer: StrataConfig['dicom']['peers'][string],
    instances: RetrievableInstance[],
  ): Promise<SubOperationTarget> {
    // One presentation context per SOP class, offering the transfer syntaxes it is stored in.
    const bySopClass = new Map<string, Set<string>>();
    for (const i of instances) {
      const set = bySopClass.get(i.sopClassUid) ?? new Set<string>();
      set.add(i.transferSyntaxUid);
      bySopClass.set(i.sopClassUid, set);
    }
    const client = await DimseClient.connect({
      host: peer.host,
      port: peer.port,
      callingAet: this.config.dicom.aeTitle,
      calledAet: peer.aeTitle,
      maxPduLength: this.config.dicom.maxPduLength,
      ...(peer.tls ? { tls: peer.tls } : {}),
      contexts: [...bySopClass].map(([abstractSyntax, ts]) => ({
        abstractSyntax,
        transferSyntaxes: [...ts],
      })),
    });
    return {
      transferSyntaxes: (sopClass) => client.acceptedTransferSyntaxes(sopClass),
      store: (r) => client.store(r),
      close: () => client.release().catch(() => client.abort()),
    };
  }

  private sameAssociation(reply: DimseReplyChannel): SubOperationTarget {
    return {
      transferSyntaxes: (sopClass) => reply.storageTransferSyntaxes(sopClass),
      store: (r) => reply.store(r),
      close: async () => undefined,
    };
  }

  private async auditRetrieve(
    instances: RetrievableInstance[],
    who: { actor: string; role: null; host: string },
    destination: string | null,
    counts: Counts,
  ): Promise<void> {
    const studies = new Map<string, RetrievableInstance[]>();
    for (const i of instances)
      studies.set(i.studyInstanceUid, [...(studies.get(i.studyInstanceUid) ?? []), i]);
    for (const [study, list] of studies) {
      await this.audit.retrieved({
        who,
        filter: { studyInstanceUid: study },
        patientId: list[0]!.patientId,
        kind: 'instances',
        instances: list.length,
        planned: list.length,
        complete: counts.failed === 0 && counts.remaining === 0,
        detail: {
          protocol: destination ? 'DIMSE C-MOVE' : 'DIMSE C-GET',
          ...(destination ? { destination } : {}),
          completed: counts.completed,
          failed: counts.failed,
        },
      });
    }
  }
}

/**
 * The sub-operations' data sets, each opened while the one before it is sent: the next object's
 * read and decryption (which run until its stream's buffers are full, so one object, or a buffer's
 * worth of a large one, is held ahead) overlap the transfer of the current one and the peer's
 * storing of it, instead of following them.
 */
class ReadAhead {
  private next: { index: number; data: Promise<Readable> | null } | null = null;

  /** open: the plaintext of the instance at an index; null when it is not to be sent. */
  constructor(private readonly open: (index: number) => Promise<Readable> | null) {}

  /** The data set of the instance at `index` (null: not to be sent); opens the next one. */
  take(index: number): Promise<Readable | null> {
    const current = this.next?.index === index ? this.next.data : this.start(index);
    this.next = { index: index + 1, data: this.start(index + 1) };
    return current ?? Promise.resolve(null);
  }

  /** Closes what was opened ahead and not taken (its file). */
  close(): void {
    void this.next?.data?.then((data) => data.destroy(), noop);
    this.next = null;
  }

  private start(index: number): Promise<Readable> | null {
    const data = this.open(index);
    // Until it is taken, nothing else listens: a read or decryption error must not go unhandled
    // (whoever consumes the stream still sees it: the stream is errored).
    void data?.then((d) => d.on('error', noop), noop);
    return data;
  }
}

const noop = (): void => undefined;

function commandCounts(c: Counts, final?: number): DimseResponse['command'] {
  return {
    // The final response of a completed retrieve carries no Remaining count (PS3.7 C.4.2.1.5).
    ...(final === undefined || final === DimseStatus.Cancel
      ? { numberOfRemainingSuboperations: c.remaining }
      : {}),
    numberOfCompletedSuboperations: c.completed,
    numberOfFailedSuboperations: c.failed,
    numberOfWarningSuboperations: c.warning,
  };
}

function finalStatus(c: Counts, cancelled: boolean): number {
  if (cancelled) return DimseStatus.Cancel;
  if (c.failed === 0 && c.warning === 0) return DimseStatus.Success;
  if (c.completed === 0 && c.warning === 0) return UNABLE_TO_PERFORM_SUBOPERATIONS;
  return SUBOPERATIONS_WITH_FAILURES;
}
