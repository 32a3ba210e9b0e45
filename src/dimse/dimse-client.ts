// DimseClient: the requestor side of the PS3.8 DUL state machine, for the associations the archive
// opens itself: C-STORE sub-operations of a C-MOVE to its destination, Storage Commitment reports
// to a requester that is gone. Connect (A-ASSOCIATE-RQ/AC), send requests one at a time through
// the same DIMSE exchange the acceptor uses, then release (A-RELEASE-RQ/RP) or abort.

import { randomUUID } from 'node:crypto';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type Readable } from 'node:stream';
import { CommandDecodeError } from './command.js';
import { DEFAULT_MAX_PDU_LENGTH } from './dimse-server.js';
import { DimseExchange } from './dimse-exchange.js';
import { AssociationClosedError, AssociationRejectedError, DimseTimeoutError } from './errors.js';
import { errorText, printable } from './log-text.js';
import { maxPdvPayload } from './message-writer.js';
import { acceptedByPeer, type ContextRequest, proposeContexts } from './negotiation.js';
import {
  AbortReason,
  AbortSource,
  DICOM_APPLICATION_CONTEXT,
  encodeAbort,
  encodeAssociateRq,
  encodeReleaseRp,
  encodeReleaseRq,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  parseAbort,
  parseAssociateAc,
  parseAssociateRj,
  PduError,
  PduType,
  type PresentationContextProposal,
  type RoleSelection,
} from './pdu.js';
import { PduReader } from './pdu-reader.js';
import { DimseStatus } from './status.js';
import { clientTlsOptions, type DimseClientTls, tlsInfo } from './tls.js';
import {
  type AssociationInfo,
  type DimseHandlers,
  type DimseLogger,
  type DimseResult,
  type EventReportRequest,
  type OutgoingQueryRequest,
  type OutgoingStoreRequest,
  type QueryResponse,
  type StoreRequest,
} from './types.js';

export interface DimseClientOptions {
  host: string;
  port: number;
  callingAet: string;
  calledAet: string;
  /** One presentation context each (IDs 1, 3, 5...); role: ours for the SOP class, absent = SCU. */
  contexts: ContextRequest[];
  /** Largest P-DATA-TF we accept, announced in the A-ASSOCIATE-RQ. Default 1 MiB. */
  maxPduLength?: number;
  /** TCP connect plus A-ASSOCIATE-AC, and ARTIM after release/abort. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long a sent request (or A-RELEASE-RQ) waits for its answer before we abort. Default 60 s. */
  responseTimeoutMs?: number;
  logger?: DimseLogger;
  /**
   * DICOM over TLS (PS3.15 B.9): TLS 1.2 or 1.3 with the BCP 195 ciphers; the peer's certificate
   * must chain to caFile (else the system's CAs) and name the host (or serverName). Files are read
   * at each connect, so renewed ones are used without a restart. Absent: plain TCP.
   */
  tls?: DimseClientTls;
  /**
   * Takes the C-STORE-RQs the peer sends on this association: a C-GET's sub-operations, on the
   * storage contexts proposed with the SCP role for us. Absent: they are refused (0x0211).
   */
  onStore?(req: StoreRequest, data: Readable): Promise<DimseResult>;
}

/** How a DimseClient association ended: we or the peer released it, either side aborted it, or
 *  the connection dropped without either. */
export type DimseClientCloseReason = 'released' | 'aborted' | 'dropped';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_RESPONSE_TIMEOUT_MS = 60_000;
/** Slack over our max PDU for peers that count the PDV header differently (as the acceptor). */
const PDATA_LENGTH_SLACK = 4096;

/** The peer is the SCP here; requests it sends us anyway (C-ECHO aside) are refused. */
const REFUSE_REQUESTS: DimseHandlers = {
  decideAssociation: () => ({ accept: true }), // never asked: we are not the acceptor
  acceptsAbstractSyntax: () => false,
  onStore: async () => ({ status: DimseStatus.UnrecognizedOperation }),
};

type State = 'connecting' | 'negotiating' | 'established' | 'releasing' | 'closed';

export class DimseClient {
  /** Resolves (never rejects) once the connection is closed, however it ended. */
  readonly closed: Promise<DimseClientCloseReason>;

  private readonly socket: Socket;
  private state: State = 'connecting';
  private closeReason: DimseClientCloseReason | null = null;
  private closeDetail = '';
  private exchange: DimseExchange | null = null;
  private readonly reader: PduReader;
  private readonly proposal: { contexts: PresentationContextProposal[]; roles: RoleSelection[] };
  private readonly info: AssociationInfo;
  private readonly logger: DimseLogger | undefined;
  private readonly responseTimeoutMs: number;
  private readonly artimMs: number;
  private timer: NodeJS.Timeout | null = null;
  private failure: unknown = null;
  private resolveClosed!: (how: DimseClientCloseReason) => void;
  private settleConnect: ((err: unknown) => void) | null = null;

  /**
   * Opens an association. Rejects with AssociationRejectedError (A-ASSOCIATE-RJ), DimseTimeoutError
   * (no answer within connectTimeoutMs), AssociationClosedError (aborted or closed while
   * negotiating) or the socket's error (ECONNREFUSED...). A peer that accepts none of the
   * contexts still yields a client: acceptedTransferSyntaxes tells.
   */
  static connect(opts: DimseClientOptions): Promise<DimseClient> {
    return new Promise((resolve, reject) => {
      const client = new DimseClient(opts, (err) => (err === null ? resolve(client) : reject(err)));
    });
  }

  private constructor(
    private readonly opts: DimseClientOptions,
    settle: (err: unknown) => void,
  ) {
    for (const aet of [opts.callingAet, opts.calledAet]) {
      if (aet.trim().length === 0 || aet.length > 16) {
        throw new RangeError('AE titles must be 1 to 16 characters');
      }
    }
    const { contexts, roleSelections } = proposeContexts(opts.contexts);
    this.proposal = { contexts, roles: roleSelections };
    this.logger = opts.logger;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
    this.artimMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.settleConnect = settle;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.info = {
      id: randomUUID(),
      callingAet: opts.callingAet,
      calledAet: opts.calledAet,
      remoteAddress: opts.host,
      remotePort: opts.port,
    };
    const maxPduLength = opts.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    this.reader = new PduReader(
      {
        onControlPdu: (type, body) => this.onControlPdu(type, body),
        onPDataStart: () => {
          if (this.state !== 'established' && this.state !== 'releasing') {
            throw new PduError('P-DATA-TF outside an association', AbortReason.UnexpectedPdu);
          }
        },
        onPdvStart: (pcId, isCommand, isLast, length) =>
          this.exchange?.pdvStart(pcId, isCommand, isLast, length),
        onPdvData: (slice) => this.exchange?.pdvData(slice),
        onPdvEnd: () => this.exchange?.pdvEnd(),
      },
      maxPduLength + PDATA_LENGTH_SLACK,
    );
    const socket = opts.tls
      ? connectTls({ host: opts.host, port: opts.port, ...clientTlsOptions(opts.host, opts.tls) })
      : connectTcp({ host: opts.host, port: opts.port, noDelay: true });
    this.socket = socket;
    socket.setNoDelay(true);
    // Over TLS, the A-ASSOCIATE-RQ waits for the handshake (and the peer's certificate check).
    socket.on(opts.tls ? 'secureConnect' : 'connect', () => {
      const tls = tlsInfo(socket);
      if (tls) {
        this.info.tls = tls;
        socket.setNoDelay(true); // the TCP socket under the TLS one exists by now
      }
      this.onConnect(maxPduLength);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.failure ??= err;
      this.debug(`socket error: ${err.message}`);
    });
    socket.on('close', () => this.onSocketClose());
    this.arm(this.artimMs, () => {
      this.failure = new DimseTimeoutError(`no A-ASSOCIATE-AC within ${this.artimMs} ms`);
      this.abortWith('association not established in time');
    });
  }

  /** Transfer syntaxes the peer accepted for an abstract syntax, in proposal order. */
  acceptedTransferSyntaxes(abstractSyntax: string): string[] {
    return this.exchange?.requests.acceptedTransferSyntaxes(abstractSyntax) ?? [];
  }

  /**
   * Sends a C-STORE-RQ with the data set streamed from req.data and resolves with the
   * C-STORE-RSP's status; calls queue and go one at a time. Rejects with
   * NoPresentationContextError (nothing sent), AssociationClosedError, DimseTimeoutError (the
   * association is then aborted), or the data's own error.
   */
  async store(req: OutgoingStoreRequest): Promise<DimseResult> {
    return this.requests().store(req);
  }

  /**
   * Sends a C-FIND-RQ, C-MOVE-RQ or C-GET-RQ and resolves with the final response; pending ones
   * (matches, progress) go to req.onPending as they come. Aborting req.signal sends a C-CANCEL-RQ.
   * Rejects like store() (NoPresentationContextError, AssociationClosedError, DimseTimeoutError:
   * the timeout counts from the last sign of the peer working, not from the request).
   */
  async query(req: OutgoingQueryRequest): Promise<QueryResponse> {
    return this.requests().query(req);
  }

  /** Sends an N-EVENT-REPORT-RQ on a context where we are SCP and resolves with its response. */
  async eventReport(req: EventReportRequest): Promise<DimseResult> {
    return this.requests().eventReport(req);
  }

  /**
   * A-RELEASE-RQ once any message being sent is out, then waits for the A-RELEASE-RP and closes.
   * Call it after the requests settled. Resolves at once if already released; rejects with
   * AssociationClosedError if the association ended otherwise (or ends before the RP comes).
   */
  async release(): Promise<void> {
    const exchange = this.exchange;
    if (this.state === 'established' && exchange !== null) {
      await exchange.flushed();
      if (this.state === 'established') {
        this.state = 'releasing';
        this.socket.write(encodeReleaseRq());
        this.arm(this.responseTimeoutMs, () => this.abortWith('no A-RELEASE-RP in time'));
      }
    }
    const how = await this.closed;
    if (how !== 'released') {
      throw new AssociationClosedError(`association ${how} instead of released`);
    }
  }

  /** A-ABORT (service user) and close; requests in flight reject with AssociationClosedError. */
  abort(): void {
    this.abortWith('aborted by the caller');
  }

  // -------------------------------------------------------------------------------------------

  private requests(): DimseExchange['requests'] {
    if (this.exchange === null) throw new AssociationClosedError('association not established');
    return this.exchange.requests;
  }

  private onConnect(maxPduLength: number): void {
    if (this.state !== 'connecting') return;
    this.state = 'negotiating';
    this.socket.write(
      encodeAssociateRq({
        calledAet: this.opts.calledAet,
        callingAet: this.opts.callingAet,
        applicationContext: DICOM_APPLICATION_CONTEXT,
        presentationContexts: this.proposal.contexts,
        userInfo: {
          maxPduLength,
          implementationClassUid: IMPLEMENTATION_CLASS_UID,
          implementationVersionName: IMPLEMENTATION_VERSION_NAME,
          roleSelections: this.proposal.roles,
        },
      }),
    );
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      const reason = err instanceof PduError ? err.abortReason : AbortReason.NotSpecified;
      if (!(err instanceof PduError || err instanceof CommandDecodeError)) {
        this.logger?.error(`DIMSE client ${this.label()}: internal error: ${errorText(err)}`);
      }
      this.failure ??= new AssociationClosedError(`protocol error: ${errorText(err)}`);
      this.abortWith(errorText(err), AbortSource.ServiceProvider, reason);
    }
  }

  private onControlPdu(type: number, body: Buffer): void {
    if (type === PduType.Abort) {
      const { source, reason } = parseAbort(body);
      this.failure ??= new AssociationClosedError(`aborted by the peer (source ${source})`);
      this.closeWith('aborted', `A-ABORT from peer (source ${source}, reason ${reason})`);
      this.socket.destroy();
    } else if (this.state === 'negotiating' && type === PduType.AssociateAc) {
      this.onAssociateAc(body);
    } else if (this.state === 'negotiating' && type === PduType.AssociateRj) {
      const rj = parseAssociateRj(body);
      this.failure = new AssociationRejectedError(rj.result, rj.source, rj.reason);
      this.closeWith('aborted', `rejected (result ${rj.result}, reason ${rj.reason})`);
      this.socket.destroy();
    } else if (this.state === 'releasing' && type === PduType.ReleaseRp) {
      // PS3.8 9.2 (AR-3): the release requestor closes the transport connection.
      this.closeWith('released', '');
      this.socket.destroy();
    } else if (
      (this.state === 'established' || this.state === 'releasing') &&
      type === PduType.ReleaseRq
    ) {
      // The acceptor releases (or both did at once): answer and let it close the connection.
      const collision = this.state === 'releasing';
      this.socket.write(encodeReleaseRp());
      if (!collision) {
        this.closeWith('released', 'released by the peer');
        this.arm(this.artimMs, () => this.socket.destroy());
      }
    } else {
      throw new PduError(`unexpected PDU type 0x${type.toString(16)}`, AbortReason.UnexpectedPdu);
    }
  }

  private onAssociateAc(body: Buffer): void {
    const ac = parseAssociateAc(body);
    const accepted = acceptedByPeer(this.proposal.contexts, this.proposal.roles, ac);
    this.exchange = new DimseExchange({
      socket: this.socket,
      info: this.info,
      accepted,
      maxSendFragment: maxPdvPayload(
        ac.userInfo.maxPduLength,
        this.opts.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH,
      ),
      handlers: this.opts.onStore
        ? { ...REFUSE_REQUESTS, onStore: (req, data) => this.opts.onStore!(req, data) }
        : REFUSE_REQUESTS,
      streamHighWaterMark: 64 * 1024,
      debug: (msg) => this.debug(msg),
      onInternalError: (err) => {
        this.logger?.error(`DIMSE client ${this.label()}: internal error: ${errorText(err)}`);
        this.abortWith('internal error', AbortSource.ServiceProvider);
      },
      onOperationDone: () => undefined,
      onBrokenMessage: (detail) => this.abortWith(detail),
      responseTimeoutMs: this.responseTimeoutMs,
      onResponseTimeout: () => this.abortWith('no DIMSE response in time'),
    });
    this.state = 'established';
    this.disarm();
    const count = accepted.filter((c) => c !== undefined).length;
    this.debug(`established, ${count}/${this.proposal.contexts.length} contexts accepted`);
    this.settleConnect?.(null);
    this.settleConnect = null;
  }

  /** Sends an A-ABORT (unless closed already) and gives the peer ARTIM to close. */
  private abortWith(
    detail: string,
    source: number = AbortSource.ServiceUser,
    reason: number = AbortReason.NotSpecified,
  ): void {
    if (this.state === 'closed') return;
    const connected = this.state !== 'connecting';
    this.closeWith('aborted', detail);
    if (connected && this.socket.writable) {
      this.socket.end(encodeAbort(source, source === AbortSource.ServiceUser ? 0 : reason));
      this.arm(this.artimMs, () => this.socket.destroy());
    } else {
      this.socket.destroy();
    }
  }

  /**
   * Decides how the association ended and stops the exchange; the socket closes after. While
   * negotiating, connect() rejects right away (not once the peer got round to closing).
   */
  private closeWith(how: DimseClientCloseReason, detail: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = how;
    this.closeDetail = detail;
    this.reader.stop();
    this.exchange?.stop();
    this.settleConnect?.(
      this.failure ?? new AssociationClosedError(`association not established (${detail})`),
    );
    this.settleConnect = null;
  }

  private onSocketClose(): void {
    this.closeWith('dropped', 'connection closed by the peer');
    this.disarm();
    const how = this.closeReason ?? 'dropped';
    if (this.exchange !== null) {
      // One info line per association that got established, like the acceptor's.
      const detail = this.closeDetail ? ` (${printable(this.closeDetail)})` : '';
      this.logger?.log(`DIMSE association ${this.label()} (outgoing): ${how}${detail}`);
    }
    this.resolveClosed(how);
  }

  private arm(ms: number, onExpiry: () => void): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = null;
      onExpiry();
    }, ms);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private label(): string {
    return `${this.info.id} -> ${this.info.calledAet}@${this.opts.host}:${this.opts.port}`;
  }

  private debug(msg: string): void {
    this.logger?.debug?.(`DIMSE client ${this.label()}: ${msg}`);
  }
}
