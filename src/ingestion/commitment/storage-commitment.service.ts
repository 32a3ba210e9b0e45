import {
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Readable } from 'node:stream';
import { AuditService } from '../../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import { Database } from '../../database/index.js';
import {
  decodeDataSet,
  encodeDataSet,
  isDicomFormatError,
  TransferSyntax,
} from '../../dicom/index.js';
import {
  CommandField,
  DimseClient,
  type DimseReplyChannel,
  type DimseResponse,
  DimseServiceRegistry,
  type DimseServiceHandler,
  DimseStatus,
  type OtherCommandRequest,
} from '../../dimse/index.js';
import {
  CommitmentRequestError,
  commitmentReport,
  readCommitmentRequest,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH,
} from './commitment-message.js';
import { type CommitmentCheck, CommitmentRepository } from './commitment.repository.js';

/** Largest N-ACTION data set read (about 100,000 references). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** No such action type (PS3.7 C.4.2). */
const NO_SUCH_ACTION_TYPE = 0x0123;
/** Missing attribute / invalid argument value (PS3.7 C.4). */
const INVALID_ARGUMENT = 0x0115;
/** The report waits this long after the N-ACTION-RSP so the requester reads that first. */
const REPORT_DELAY_MS = 20;

async function readAll(data: Readable | null, limit: number): Promise<Buffer | null> {
  if (!data) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      data.destroy();
      return null;
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}

/**
 * Storage Commitment SCP, push model (PS3.4 Annex J). An N-ACTION names instances; each is checked
 * in one statement (in the catalog, whose rows commit only once an object is durable, with a
 * location whose digest was verified), the request and the answers are recorded (the offload
 * ledger) and audited, and the N-EVENT-REPORT goes back on the same association if it is still
 * open, else on a new one to the requester's configured peer (config dicom.peers). Commitment is
 * never reported for an instance that is not durably stored: the check reads the catalog only.
 */
@Injectable()
export class StorageCommitmentService
  implements DimseServiceHandler, OnModuleInit, OnApplicationShutdown
{
  readonly name = 'storage-commitment';
  readonly sopClasses = [STORAGE_COMMITMENT_PUSH];
  private readonly logger = new Logger('Commitment');
  private readonly repo = new CommitmentRepository();
  private readonly reports = new Set<Promise<void>>();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly registry: DimseServiceRegistry,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  /** Reports in flight finish (or fail) before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.reports]);
  }

  async handle(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> {
    if (req.command.commandField !== CommandField.NActionRq) return undefined;
    const answer = (status: number, errorComment?: string): DimseResponse => ({
      status,
      ...(errorComment ? { errorComment } : {}),
      command: {
        affectedSopClassUid: STORAGE_COMMITMENT_PUSH,
        affectedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
        ...(status === DimseStatus.Success ? { actionTypeId: 1 } : {}),
      },
    });
    if (req.command.actionTypeId !== 1) {
      return answer(NO_SUCH_ACTION_TYPE, 'Action Type ID must be 1 (request commitment)');
    }
    const bytes = await readAll(req.data, MAX_REQUEST_BYTES);
    if (bytes === null) return answer(DimseStatus.OutOfResources, 'Request too large');
    let request;
    try {
      request = readCommitmentRequest(decodeDataSet(bytes, req.transferSyntaxUid));
    } catch (error) {
      if (error instanceof CommitmentRequestError || isDicomFormatError(error)) {
        return answer(INVALID_ARGUMENT, (error as Error).message.slice(0, 64));
      }
      throw error;
    }
    const a = req.association;
    const source = this.config.dicom.peers[a.callingAet]?.source ?? a.callingAet;
    const checks = await this.repo.check(this.db, request.references);
    const id = await this.db.transaction(async (tx) => {
      const commitmentId = await this.repo.record(
        tx,
        {
          transactionUid: request.transactionUid,
          requestedBy: a.callingAet,
          source,
          remoteHost: a.remoteAddress,
        },
        checks,
      );
      await this.audit.record(tx, {
        actor: a.callingAet,
        actorHost: a.remoteAddress,
        action: 'storage.commitment-requested',
        outcome: checks.every((c) => c.committed) ? 'success' : 'warning',
        instances: checks.length,
        detail: {
          commitment: commitmentId,
          transactionUid: request.transactionUid,
          source,
          committed: checks.filter((c) => c.committed).length,
          failed: checks.filter((c) => !c.committed).length,
        },
      });
      return commitmentId;
    });
    const report = new Promise<void>((done) => setTimeout(done, REPORT_DELAY_MS))
      .then(() => this.report(id, request.transactionUid, checks, req, reply))
      .catch((e: unknown) => this.logger.error(`commitment report ${id} failed: ${String(e)}`))
      .finally(() => this.reports.delete(report));
    this.reports.add(report);
    return answer(DimseStatus.Success);
  }

  private async report(
    id: string,
    transactionUid: string,
    checks: readonly CommitmentCheck[],
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<void> {
    const { eventTypeId, dataset } = commitmentReport(
      transactionUid,
      this.config.dicom.aeTitle,
      checks,
    );
    const message = {
      sopClassUid: STORAGE_COMMITMENT_PUSH,
      sopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
      eventTypeId,
    };
    let via: 'same-association' | 'new-association' = 'same-association';
    let error: string | null = null;
    try {
      const r = await reply.eventReport({
        ...message,
        dataset: encodeDataSet(dataset, req.transferSyntaxUid),
      });
      if (r.status !== DimseStatus.Success)
        error = `the requester answered 0x${r.status.toString(16)}`;
    } catch {
      // The requester released the association (most do, and wait for a new one).
      via = 'new-association';
      error = await this.reportOnNewAssociation(req.association.callingAet, message, dataset);
    }
    await this.repo.reported(this.db, id, error ? { error } : { via });
    await this.audit.recordAlone({
      actor: this.config.dicom.aeTitle,
      action: 'storage.commitment-reported',
      outcome: error ? 'failure' : 'success',
      instances: checks.length,
      detail: {
        commitment: id,
        transactionUid,
        to: req.association.callingAet,
        via,
        committed: checks.filter((c) => c.committed).length,
        failed: checks.filter((c) => !c.committed).length,
        ...(error ? { error } : {}),
      },
    });
    if (error)
      this.logger.warn(`commitment report ${id} to ${req.association.callingAet}: ${error}`);
  }

  /** Returns null when the peer took the report, else why not. */
  private async reportOnNewAssociation(
    aeTitle: string,
    message: { sopClassUid: string; sopInstanceUid: string; eventTypeId: number },
    dataset: Parameters<typeof encodeDataSet>[0],
  ): Promise<string | null> {
    const peer = this.config.dicom.peers[aeTitle];
    if (!peer) return `${aeTitle} is not a configured peer (dicom.peers): nowhere to report`;
    let client: DimseClient | null = null;
    try {
      client = await DimseClient.connect({
        host: peer.host,
        port: peer.port,
        callingAet: this.config.dicom.aeTitle,
        calledAet: peer.aeTitle,
        ...(peer.tls ? { tls: peer.tls } : {}),
        contexts: [
          {
            abstractSyntax: STORAGE_COMMITMENT_PUSH,
            transferSyntaxes: [
              TransferSyntax.ExplicitVRLittleEndian,
              TransferSyntax.ImplicitVRLittleEndian,
            ],
            // We report, so we are the SCP of the SOP class on an association we request.
            role: { scu: false, scp: true },
          },
        ],
      });
      const ts = client.acceptedTransferSyntaxes(STORAGE_COMMITMENT_PUSH)[0];
      if (!ts) return `${aeTitle} did not accept Storage Commitment`;
      const r = await client.eventReport({ ...message, dataset: encodeDataSet(dataset, ts) });
      return r.status === DimseStatus.Success
        ? null
        : `${aeTitle} answered 0x${r.status.toString(16)}`;
    } catch (e) {
      return `could not report to ${aeTitle} at ${peer.host}:${peer.port}: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      await client?.release().catch(() => client?.abort());
    }
  }
}
