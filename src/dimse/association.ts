// One association over one TCP socket, acceptor side of the PS3.8 DUL state machine: waits for
// the A-ASSOCIATE-RQ (ARTIM), negotiates, hands P-DATA to the DIMSE exchange, and ends by
// release, abort, rejection, timeout or the peer dropping. Exactly one info log line per
// association, written when it is over.
//
// Nothing thrown while handling input escapes: protocol errors become an A-ABORT, handler errors
// become failure statuses (in the exchange), and the server keeps running.

import { randomUUID } from 'node:crypto';
import { type Socket } from 'node:net';
import { bindLogFields } from '../logging/index.js';
import { CommandDecodeError } from './command.js';
import { DimseExchange } from './dimse-exchange.js';
import { errorText, handlerErrorText, printable } from './log-text.js';
import { maxPdvPayload } from './message-writer.js';
import {
  basicAssociationChecks,
  negotiatePresentationContexts,
  STORAGE_SOP_CLASS_ROOT,
} from './negotiation.js';
import {
  AbortReason,
  AbortSource,
  type AssociateRq,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeReleaseRp,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  parseAbort,
  parseAssociateRq,
  PduError,
  PduType,
} from './pdu.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import { tlsInfo } from './tls.js';
import {
  type AssociationCloseReason,
  type AssociationDecision,
  type AssociationInfo,
  type DimseHandlers,
  type DimseLogger,
} from './types.js';

export interface AssociationConfig {
  aeTitle: string;
  maxPduLength: number;
  idleTimeoutMs: number;
  artimTimeoutMs: number;
  /** High-water mark of the data set Readables: how much we buffer before pausing the socket. */
  streamHighWaterMark: number;
  handlers: DimseHandlers;
  logger: DimseLogger;
  /** Server-level admission (limits, shutdown) run before decideAssociation; undefined = go on. */
  admit(): AssociationDecision | undefined;
}

/** Peers disagree on whether "max PDU length" counts the PDV header; tolerate a little over. */
const PDATA_LENGTH_SLACK = 4096;

type State = 'awaiting-rq' | 'negotiating' | 'established' | 'releasing' | 'closing';

export class Association {
  info: AssociationInfo | null = null;
  readonly closed: Promise<void>;

  private state: State = 'awaiting-rq';
  private closeReason: AssociationCloseReason | null = null;
  private closeDetail = '';
  /** True once we decided to end the association: input is ignored from then on. */
  private stopped = false;
  /** True once the socket has closed. */
  private ended = false;
  private draining = false;
  private anyInput = false;
  private readonly startedAt = Date.now();
  /** The association's id (AssociationInfo.id), on every log line written while handling it. */
  private readonly id = randomUUID();
  private readonly reader: PduReader;
  private exchange: DimseExchange | null = null;
  private artimTimer: NodeJS.Timeout | null = null;
  private finalTimer: NodeJS.Timeout | null = null;
  private resolveClosed!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly config: AssociationConfig,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // P-DATA goes straight to the DIMSE exchange; everything else is ours to handle.
    const sink: PduSink = {
      onControlPdu: (type, body) => this.onControlPdu(type, body),
      onPDataStart: () => this.onPDataStart(),
      onPdvStart: (pcId, isCommand, isLast, length) =>
        this.exchange?.pdvStart(pcId, isCommand, isLast, length),
      onPdvData: (slice) => this.exchange?.pdvData(slice),
      onPdvEnd: () => this.exchange?.pdvEnd(),
    };
    this.reader = new PduReader(sink, config.maxPduLength + PDATA_LENGTH_SLACK);
    socket.setNoDelay(true);
    // Socket events run in the context of the listening server: bind each to this association's
    // log fields, so that whatever a handler logs (ingestion, C-FIND...) names the association.
    const scope = { association: this.id };
    socket.on(
      'data',
      bindLogFields(scope, (chunk: Buffer) => this.onData(chunk)),
    );
    socket.on(
      'error',
      bindLogFields(scope, (err: Error) => this.debug(`socket error: ${err.message}`)),
    );
    socket.on(
      'timeout',
      bindLogFields(scope, () => this.onIdle()),
    );
    socket.on(
      'close',
      bindLogFields(scope, () => this.onSocketClose()),
    );
    this.artimTimer = setTimeout(() => this.onArtimExpired(), config.artimTimeoutMs);
  }

  /** True between A-ASSOCIATE-RQ and the end of the association (counts towards limits). */
  get isAssociated(): boolean {
    return this.state === 'negotiating' || this.state === 'established';
  }

  /** Server shutdown: let the operation in flight (if any) finish, then abort. */
  shutdown(): void {
    this.draining = true;
    if (this.stopped) return;
    if (this.state === 'awaiting-rq') {
      this.closeDetail = 'server shutting down';
      this.stop();
      this.socket.end();
      this.armFinalTimer();
    } else {
      // 'negotiating': negotiate() sees `draining` and rejects. 'releasing': ends by itself.
      this.abortIfDrainedAndIdle();
    }
  }

  /** Grace period over: abort whatever is still going on. */
  forceAbort(): void {
    this.abort(AbortSource.ServiceUser, AbortReason.NotSpecified, 'shutdown grace period expired');
  }

  destroy(): void {
    this.socket.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Input

  private onData(chunk: Buffer): void {
    this.anyInput = true;
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (err instanceof PduError) {
        this.abort(AbortSource.ServiceProvider, err.abortReason, err.message);
      } else if (err instanceof CommandDecodeError) {
        this.abort(AbortSource.ServiceProvider, AbortReason.InvalidPduParameterValue, err.message);
      } else {
        this.internalError(err);
      }
    }
  }

  private onPDataStart(): void {
    if (this.state !== 'established') {
      throw new PduError('P-DATA-TF outside an association', AbortReason.UnexpectedPdu);
    }
  }

  private onControlPdu(type: number, body: Buffer): void {
    switch (type) {
      case PduType.AssociateRq:
        if (this.state !== 'awaiting-rq') {
          throw new PduError('unexpected A-ASSOCIATE-RQ', AbortReason.UnexpectedPdu);
        }
        this.onAssociateRq(parseAssociateRq(body));
        return;
      case PduType.ReleaseRq: {
        const exchange = this.exchange;
        if (this.state !== 'established' || exchange === null) {
          throw new PduError('unexpected A-RELEASE-RQ', AbortReason.UnexpectedPdu);
        }
        if (exchange.midMessage) {
          throw new PduError('A-RELEASE-RQ in the middle of a message', AbortReason.UnexpectedPdu);
        }
        this.state = 'releasing';
        exchange.peerReleasing();
        // Answer after the responses of operations still running, so none is lost.
        exchange.enqueue(async () => {
          await exchange.flushed();
          this.sendReleaseRp();
        });
        return;
      }
      case PduType.Abort: {
        const { source, reason } = parseAbort(body);
        this.closeReason = 'aborted';
        this.closeDetail = `A-ABORT from peer (source ${source}, reason ${reason})`;
        this.stop();
        this.socket.destroy();
        return;
      }
      default:
        // A-ASSOCIATE-AC/RJ and A-RELEASE-RP only make sense for a requestor.
        throw new PduError(`unexpected PDU type 0x${type.toString(16)}`, AbortReason.UnexpectedPdu);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Negotiation

  private onAssociateRq(rq: AssociateRq): void {
    this.clearArtim();
    this.state = 'negotiating';
    this.info = {
      id: this.id,
      callingAet: rq.callingAet,
      calledAet: rq.calledAet,
      remoteAddress: this.socket.remoteAddress ?? '',
      remotePort: this.socket.remotePort ?? 0,
      implementationClassUid: rq.userInfo.implementationClassUid,
      implementationVersionName: rq.userInfo.implementationVersionName,
    };
    const tls = tlsInfo(this.socket);
    if (tls) this.info.tls = tls;
    // negotiate() is async (the handler may be); whatever it throws must not escape.
    this.negotiate(rq, this.info).catch((err: unknown) => this.internalError(err));
  }

  private async negotiate(rq: AssociateRq, info: AssociationInfo): Promise<void> {
    let decision = basicAssociationChecks(rq) ?? this.config.admit();
    if (decision === undefined) {
      try {
        decision = await this.config.handlers.decideAssociation(info);
      } catch (err) {
        this.debug(`decideAssociation failed: ${handlerErrorText(err)}`);
        decision = {
          accept: false,
          result: 2,
          source: 1,
          reason: 1,
          logReason: 'decideAssociation failed',
        };
      }
    }
    if (this.stopped) return;
    if (decision.accept && this.draining) {
      decision = {
        accept: false,
        result: 2,
        source: 3,
        reason: 1,
        logReason: 'server shutting down',
      };
    }
    if (!decision.accept) {
      this.closeReason = 'rejected';
      this.closeDetail = decision.logReason;
      this.writeAndClose(encodeAssociateRj(decision));
      return;
    }

    const outcome = negotiatePresentationContexts(
      rq,
      (uid) => this.askHandler('acceptsAbstractSyntax', uid),
      (uid) => this.acceptsRequesterScpRole(uid),
    );
    const ac = encodeAssociateAc({
      calledAet: rq.calledAet,
      callingAet: rq.callingAet,
      presentationContexts: outcome.answers,
      userInfo: {
        maxPduLength: this.config.maxPduLength,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        roleSelections: outcome.roleReplies,
        // No asynchronous operations window item: the default (one at a time) is what we do.
      },
    });
    this.exchange = new DimseExchange({
      socket: this.socket,
      info,
      accepted: outcome.accepted,
      maxSendFragment: maxPdvPayload(rq.userInfo.maxPduLength, this.config.maxPduLength),
      handlers: this.config.handlers,
      streamHighWaterMark: this.config.streamHighWaterMark,
      debug: (msg) => this.debug(msg),
      onInternalError: (err) => this.internalError(err),
      onOperationDone: () => this.abortIfDrainedAndIdle(),
      onBrokenMessage: (detail) =>
        this.abort(AbortSource.ServiceUser, AbortReason.NotSpecified, detail),
    });
    this.socket.write(ac);
    this.state = 'established';
    this.socket.setTimeout(this.config.idleTimeoutMs);
    const accepted = outcome.answers.filter((a) => a.result === 0).length;
    this.debug(`accepted ${accepted}/${outcome.answers.length} presentation contexts`);
  }

  private acceptsRequesterScpRole(uid: string): boolean {
    if (this.config.handlers.acceptsRequesterScpRole === undefined) {
      return (
        uid.startsWith(STORAGE_SOP_CLASS_ROOT) && this.askHandler('acceptsAbstractSyntax', uid)
      );
    }
    return this.askHandler('acceptsRequesterScpRole', uid);
  }

  /** A handler predicate that throws counts as "no". */
  private askHandler(
    name: 'acceptsAbstractSyntax' | 'acceptsRequesterScpRole',
    uid: string,
  ): boolean {
    try {
      return this.config.handlers[name]?.(uid) ?? false;
    } catch (err) {
      this.debug(`${name} failed: ${handlerErrorText(err)}`);
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  private sendReleaseRp(): void {
    if (this.stopped) return;
    this.closeReason = 'released';
    this.writeAndClose(encodeReleaseRp());
  }

  private abort(source: number, reason: number, detail: string): void {
    if (this.stopped) return;
    this.closeReason = 'aborted';
    this.closeDetail = detail;
    this.debug(`sending A-ABORT: ${detail}`);
    this.writeAndClose(encodeAbort(source, reason));
  }

  /** Our own bug (or a handler returning nonsense): log it and abort this association only. */
  private internalError(err: unknown): void {
    this.config.logger.error(
      `DIMSE association ${this.label()}: internal error: ${errorText(err)}`,
    );
    this.abort(AbortSource.ServiceProvider, AbortReason.NotSpecified, 'internal error');
  }

  private abortIfDrainedAndIdle(): void {
    if (this.draining && this.state === 'established' && this.exchange?.idle === true) {
      this.abort(AbortSource.ServiceUser, AbortReason.NotSpecified, 'server shutting down');
    }
  }

  /** Sends a final PDU, half-closes, and gives the peer ARTIM to close its side. */
  private writeAndClose(pdu: Buffer): void {
    this.stop();
    if (this.socket.writable) this.socket.end(pdu);
    this.armFinalTimer();
  }

  private armFinalTimer(): void {
    if (this.finalTimer !== null || this.ended) return;
    this.finalTimer = setTimeout(() => this.socket.destroy(), this.config.artimTimeoutMs);
    this.finalTimer.unref();
  }

  /** Stops processing input and fails the operations in flight. */
  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.state = 'closing';
    this.reader.stop();
    this.exchange?.stop();
    this.clearArtim();
    this.socket.setTimeout(0);
    // Keep reading (and ignoring) so we notice the peer closing its side.
    if (!this.ended) this.socket.resume();
  }

  private onArtimExpired(): void {
    this.artimTimer = null;
    if (this.state !== 'awaiting-rq' || this.stopped) return;
    // PS3.8 9.2 (ARTIM expiry while awaiting the A-ASSOCIATE-RQ): just close the connection.
    this.closeDetail = 'no A-ASSOCIATE-RQ within ARTIM timeout';
    this.stop();
    this.socket.destroy();
  }

  private onIdle(): void {
    if (this.stopped) return;
    if (this.exchange?.busy === true && !this.socket.writableNeedDrain) {
      // Our own handler is busy: the peer is legitimately waiting. Check again later. (A peer
      // that stopped reading our responses, by contrast, is not waiting for us: abort it.)
      this.socket.setTimeout(this.config.idleTimeoutMs);
      return;
    }
    this.abort(AbortSource.ServiceUser, AbortReason.NotSpecified, 'idle timeout');
  }

  private clearArtim(): void {
    if (this.artimTimer !== null) clearTimeout(this.artimTimer);
    this.artimTimer = null;
  }

  private onSocketClose(): void {
    this.ended = true;
    if (!this.stopped) {
      this.closeReason ??= 'dropped';
      this.stop();
    }
    if (this.finalTimer !== null) clearTimeout(this.finalTimer);
    this.report();
    this.resolveClosed();
  }

  private report(): void {
    const durationMs = Date.now() - this.startedAt;
    const { logger } = this.config;
    const detail = this.closeDetail ? ` (${printable(this.closeDetail)})` : '';
    const info = this.info;
    if (info === null) {
      const line = `DIMSE connection from ${this.peer()} closed before association${detail}`;
      if (this.anyInput) logger.log(line);
      else this.debug(line); // port probes and TCP health checks: not worth an info line
      return;
    }
    const how = this.closeReason ?? 'dropped';
    const { stored, failed, bytesReceived, operations } = this.exchange?.stats ?? {
      stored: 0,
      failed: 0,
      bytesReceived: 0,
      operations: {},
    };
    // The association's summary: one line, its fields for log queries (AE titles, counts).
    logger.log(
      `DIMSE association ${info.id} ${printable(info.callingAet)}@${this.peer()} -> ` +
        `${printable(info.calledAet)}: ${how}${detail}; ${stored} stored, ${failed} failed, ` +
        `${(bytesReceived / 1048576).toFixed(1)} MiB in ${durationMs} ms`,
      {
        association: info.id,
        callingAet: printable(info.callingAet),
        calledAet: printable(info.calledAet),
        remote: this.peer(),
        outcome: how,
        ...(this.closeDetail ? { detail: printable(this.closeDetail) } : {}),
        operations,
        stored,
        failed,
        bytesReceived,
        durationMs,
      },
    );
    try {
      this.config.handlers.onAssociationClosed?.(info, how, {
        stored,
        failed,
        bytesReceived,
        durationMs,
      });
    } catch (err) {
      logger.error(`DIMSE onAssociationClosed failed: ${handlerErrorText(err)}`);
    }
  }

  private peer(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  private label(): string {
    return this.info?.id ?? this.peer();
  }

  private debug(msg: string): void {
    this.config.logger.debug?.(`DIMSE association ${this.label()}: ${msg}`);
  }
}
