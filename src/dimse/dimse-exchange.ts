// The DIMSE layer of one established association: assembles command sets from PDVs, routes data
// set PDVs into the handler's Readable (pausing the socket while it is full), runs operations
// strictly one after another, and writes their responses. It also carries the requests we send
// (C-GET sub-operations, N-EVENT-REPORTs) and routes the peer's responses to them, which is why
// PDUs keep being read while an operation runs. DimseClient uses it too, for the requestor side.

import { type Socket } from 'node:net';
import {
  CommandField,
  type DimseCommand,
  decodeCommand,
  hasDataSet,
  MAX_COMMAND_LENGTH,
} from './command.js';
import { DatasetStream } from './dataset-stream.js';
import { AssociationClosedError } from './errors.js';
import { handlerErrorText } from './log-text.js';
import { buildResponse, MessageWriter } from './message-writer.js';
import { type AcceptedContext } from './negotiation.js';
import { OutgoingRequests } from './outgoing-requests.js';
import { AbortReason, PduError } from './pdu.js';
import { DimseStatus, statusCategory } from './status.js';
import {
  type AssociationInfo,
  type DimseHandlers,
  type DimseReplyChannel,
  type DimseResponse,
  type DimseResult,
  type OtherCommandRequest,
  type StoreRequest,
} from './types.js';

/** A response's data set (C-FIND identifier, failed SOP instance list) is small; more is hostile. */
const MAX_RESPONSE_DATA_SET = 16 * 1024 * 1024;

export interface ExchangeSetup {
  socket: Socket;
  info: AssociationInfo;
  /** Indexed by presentation context ID. */
  accepted: (AcceptedContext | undefined)[];
  /** Largest PDV payload the peer accepts from us. */
  maxSendFragment: number;
  handlers: DimseHandlers;
  streamHighWaterMark: number;
  debug(msg: string): void;
  /** Something that should not happen did: the association aborts. */
  onInternalError(err: unknown): void;
  /** An operation or a request of ours finished (lets a draining association abort when idle). */
  onOperationDone(): void;
  /** A message we were sending broke off (its data source failed): the association must abort. */
  onBrokenMessage(detail: string): void;
  /** For requests we send: how long to wait for the response (default: no limit). */
  responseTimeoutMs?: number;
  /** A response to one of our requests did not come in time: the association must abort. */
  onResponseTimeout?(): void;
}

interface ResponseData {
  readonly pcId: number;
  readonly command: DimseCommand;
  readonly parts: Buffer[];
  length: number;
}

interface Operation {
  readonly pcId: number;
  readonly context: AcceptedContext;
  readonly command: DimseCommand;
  readonly messageId: number;
  /** The handler's Readable; null when the command has no data set. */
  readonly data: DatasetStream | null;
  dataComplete: boolean;
  /** Set once the handler no longer wants the data: remaining fragments are dropped. */
  discard: boolean;
  readonly dataDone: Promise<void>;
  readonly resolveDataDone: () => void;
  readonly controller: AbortController;
}

/** Request names for the per-association operation counts (a bounded set: others are 'other'). */
const REQUEST_NAMES = new Map<number, string>([
  [CommandField.CStoreRq, 'C-STORE'],
  [CommandField.CGetRq, 'C-GET'],
  [CommandField.CFindRq, 'C-FIND'],
  [CommandField.CMoveRq, 'C-MOVE'],
  [CommandField.CEchoRq, 'C-ECHO'],
  [CommandField.NEventReportRq, 'N-EVENT-REPORT'],
  [CommandField.NGetRq, 'N-GET'],
  [CommandField.NSetRq, 'N-SET'],
  [CommandField.NActionRq, 'N-ACTION'],
  [CommandField.NCreateRq, 'N-CREATE'],
  [CommandField.NDeleteRq, 'N-DELETE'],
]);

export class DimseExchange {
  readonly stats = {
    stored: 0,
    failed: 0,
    bytesReceived: 0,
    /** Requests the peer sent, by command name (C-STORE, C-FIND...), for the association's log line. */
    operations: {} as Record<string, number>,
  };
  /** Requests we send, and the matching of the peer's responses. */
  readonly requests: OutgoingRequests;
  private readonly writer: MessageWriter;
  private stopped = false;

  // The PDV being received.
  private pdvIsCommand = false;
  private pdvIsLast = false;
  private commandParts: Buffer[] = [];
  private commandLength = 0;
  private commandPcId = 0;

  private readonly active = new Set<Operation>();
  /** The operation whose data set is arriving. */
  private receiving: Operation | null = null;
  /** The stream whose full buffer paused the socket, if any. */
  private pausedBy: DatasetStream | null = null;
  /** A response to a request of ours whose data set is arriving (a C-FIND match...). */
  private responseData: ResponseData | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly setup: ExchangeSetup) {
    this.writer = new MessageWriter(setup.socket, setup.maxSendFragment, (err) =>
      setup.onBrokenMessage(`data source failed mid-message (${handlerErrorText(err)})`),
    );
    this.requests = new OutgoingRequests({
      writer: this.writer,
      accepted: setup.accepted,
      responseTimeoutMs: setup.responseTimeoutMs,
      onResponseTimeout: () => setup.onResponseTimeout?.(),
      onSettled: () => setup.onOperationDone(),
    });
  }

  /**
   * Our handler has work in hand, so the peer is legitimately waiting for us: it is behind on a
   * data set (socket paused), or an operation has all its data and awaits the handler. A data
   * set the *peer* has stopped sending does not count: that is what the idle timeout is for.
   */
  get busy(): boolean {
    // We sent a request and the peer owes the response: its silence is idleness, not ours.
    if (this.requests.waitingForPeer) return false;
    if (this.pausedBy !== null) return true;
    for (const op of this.active) if (op.dataComplete) return true;
    return false;
  }

  /** Between operations: nothing running, no data set arriving, no request of ours pending. */
  get idle(): boolean {
    return this.active.size === 0 && this.receiving === null && this.requests.idle;
  }

  /** Part of a message (command or data set) has arrived but not all of it. */
  get midMessage(): boolean {
    return this.receiving !== null || this.responseData !== null || this.commandParts.length > 0;
  }

  /**
   * The peer asked to release: it answers nothing of ours any more (PS3.8 9.2, Sta8 has it wait
   * only for our A-RELEASE-RP), so requests fail now rather than at the idle timeout. A Storage
   * Commitment report then goes out on a new association at once.
   */
  peerReleasing(): void {
    this.requests.close(new AssociationClosedError('the peer is releasing the association'));
  }

  /** Resolves once no outgoing message is half written (before an A-RELEASE-RP, say). */
  flushed(): Promise<void> {
    return this.writer.whenIdle();
  }

  /** Runs fn after everything queued before it; a failure aborts instead of breaking the chain. */
  enqueue(fn: () => void | Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: unknown) => this.setup.onInternalError(err));
  }

  /** The association is ending: fail data sets in flight, ignore handler results from now on. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const err = new Error('association ended before the data set was complete');
    for (const op of this.active) {
      op.controller.abort();
      if (!op.dataComplete) {
        op.discard = true;
        if (op.data !== null && !op.data.destroyed) op.data.destroy(err);
        op.resolveDataDone();
      }
    }
    this.receiving = null;
    this.pausedBy = null;
    this.responseData = null;
    this.writer.close();
    this.requests.close(new AssociationClosedError('association ended before the response came'));
  }

  // -------------------------------------------------------------------------------------------
  // PDVs (called by the PDU reader via the association)

  pdvStart(pcId: number, isCommand: boolean, isLast: boolean, length: number): void {
    if (this.setup.accepted[pcId] === undefined) {
      throw new PduError(
        `PDV on presentation context ${pcId}, which was not accepted`,
        AbortReason.UnexpectedPduParameter,
      );
    }
    this.pdvIsCommand = isCommand;
    this.pdvIsLast = isLast;
    if (isCommand) {
      if (this.receiving !== null || this.responseData !== null) {
        throw unexpected('command PDV while a data set is incomplete');
      }
      if (this.commandPcId !== 0 && this.commandPcId !== pcId) {
        throw unexpected('command fragments on different presentation contexts');
      }
      if (this.commandLength + length > MAX_COMMAND_LENGTH) {
        throw new PduError('command set too long');
      }
      this.commandPcId = pcId;
    } else if (this.responseData !== null) {
      if (this.responseData.pcId !== pcId) throw unexpected('data set PDV on another context');
      if (this.responseData.length + length > MAX_RESPONSE_DATA_SET) {
        throw new PduError('response data set too long');
      }
    } else if (this.receiving?.pcId !== pcId || this.commandParts.length > 0) {
      throw unexpected('data set PDV without a matching command');
    }
  }

  pdvData(slice: Buffer): void {
    if (this.pdvIsCommand) {
      this.commandParts.push(slice);
      this.commandLength += slice.length;
      return;
    }
    this.stats.bytesReceived += slice.length;
    const response = this.responseData;
    if (response !== null) {
      response.parts.push(slice);
      response.length += slice.length;
      return;
    }
    const op = this.receiving;
    if (op === null || op.discard || op.data === null) return;
    const stream = op.data;
    if (stream.destroyed) {
      this.discard(op);
    } else if (!stream.push(slice) && this.pausedBy === null) {
      // The handler is behind: stop reading the socket until it asks for more (_read).
      this.pausedBy = stream;
      this.setup.socket.pause();
    }
  }

  pdvEnd(): void {
    if (!this.pdvIsLast) return;
    if (this.pdvIsCommand) this.completeCommand();
    else if (this.responseData !== null) this.completeResponseData(this.responseData);
    else if (this.receiving !== null) this.completeData(this.receiving);
  }

  private onStreamPull(stream: DatasetStream): void {
    if (this.pausedBy === stream) this.resumeSocket();
  }

  private resumeSocket(): void {
    this.pausedBy = null;
    if (!this.stopped) this.setup.socket.resume();
  }

  // -------------------------------------------------------------------------------------------
  // Messages and operations

  private completeCommand(): void {
    const parts = this.commandParts;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.commandLength);
    const pcId = this.commandPcId;
    this.commandParts = [];
    this.commandLength = 0;
    this.commandPcId = 0;
    const command = decodeCommand(buf);
    const field = command.commandField;

    if (field === CommandField.CCancelRq) {
      if (hasDataSet(command)) throw unexpected('C-CANCEL-RQ with a data set');
      for (const op of this.active) {
        if (op.messageId === command.messageIdBeingRespondedTo) op.controller.abort();
      }
      return;
    }
    if ((field & 0x8000) !== 0) {
      // A response to a request of ours (C-STORE-RSP, C-FIND-RSP...), never an operation; one
      // with a data set (a C-FIND match, an Event Reply) is handed over once that is in.
      if (hasDataSet(command)) this.responseData = { pcId, command, parts: [], length: 0 };
      else this.requests.onResponse(command, null);
      return;
    }
    if (command.messageId === undefined) throw new PduError('DIMSE request without MessageID');
    const name = REQUEST_NAMES.get(field) ?? 'other';
    this.stats.operations[name] = (this.stats.operations[name] ?? 0) + 1;
    // The peer is working for a request of ours (a C-GET's C-STORE sub-operations).
    this.requests.peerActive();

    let resolveDataDone!: () => void;
    const dataDone = new Promise<void>((resolve) => (resolveDataDone = resolve));
    const withData = hasDataSet(command);
    const op: Operation = {
      pcId,
      context: this.setup.accepted[pcId] as AcceptedContext, // pdvStart checked it
      command,
      messageId: command.messageId,
      data: withData
        ? new DatasetStream((s) => this.onStreamPull(s), this.setup.streamHighWaterMark)
        : null,
      dataComplete: !withData,
      discard: false,
      dataDone,
      resolveDataDone,
      controller: new AbortController(),
    };
    if (withData) this.receiving = op;
    else resolveDataDone();
    this.active.add(op);
    this.enqueue(() => this.run(op));
  }

  private completeResponseData(data: ResponseData): void {
    this.responseData = null;
    const bytes = data.parts.length === 1 ? data.parts[0]! : Buffer.concat(data.parts, data.length);
    this.requests.onResponse(data.command, bytes);
  }

  private completeData(op: Operation): void {
    op.dataComplete = true;
    this.receiving = null;
    if (!op.discard && op.data !== null && !op.data.destroyed) op.data.push(null);
    // An ended stream never calls _read again, so it can no longer release a pause it caused;
    // what it still buffers is bounded (high-water mark + one socket chunk): read on.
    if (op.data !== null && this.pausedBy === op.data) this.resumeSocket();
    op.resolveDataDone();
  }

  /** The handler is done with the data set: drop the rest of it and release any backpressure. */
  private discard(op: Operation): void {
    op.discard = true;
    if (op.data === null) return;
    if (!op.data.destroyed) op.data.destroy();
    if (this.pausedBy === op.data) this.resumeSocket();
  }

  private async run(op: Operation): Promise<void> {
    try {
      if (this.stopped) return;
      let response: DimseResponse;
      switch (op.command.commandField) {
        case CommandField.CEchoRq:
          response = { status: DimseStatus.Success };
          break;
        case CommandField.CStoreRq:
          response = await this.runStore(op);
          break;
        default:
          response = await this.runOther(op);
          break;
      }
      if (this.stopped) return;
      // Answer only once the request's data set is entirely in (no answering mid-message).
      if (!op.dataComplete) {
        this.discard(op);
        await op.dataDone;
        if (this.stopped) return;
      } else if (op.data !== null && !op.data.destroyed) {
        op.data.destroy(); // frees anything the handler left unread
      }
      void this.respond(op, response);
    } finally {
      this.active.delete(op);
      this.setup.onOperationDone();
    }
  }

  private respond(op: Operation, response: DimseResponse): Promise<void> {
    return this.writer.write(op.pcId, buildResponse(op.command, response), response.dataset);
  }

  private async runStore(op: Operation): Promise<DimseResult> {
    const cmd = op.command;
    const sopClass = cmd.affectedSopClassUid;
    const sopInstance = cmd.affectedSopInstanceUid;
    let result: DimseResult;
    if (op.data === null || !sopClass || !sopInstance) {
      result = { status: DimseStatus.CannotUnderstand, errorComment: 'Incomplete C-STORE-RQ' };
    } else if (sopClass !== op.context.abstractSyntax && !this.accepts(sopClass)) {
      // A SOP class other than the context's abstract syntax is tolerated as long as we would
      // accept it anyway: the data set is still encoded in the context's transfer syntax.
      result = { status: DimseStatus.SopClassNotSupported, errorComment: 'SOP class not accepted' };
    } else {
      const req: StoreRequest = {
        association: this.setup.info,
        messageId: op.messageId,
        affectedSopClassUid: sopClass,
        affectedSopInstanceUid: sopInstance,
        transferSyntaxUid: op.context.transferSyntax,
        presentationContextId: op.pcId,
        priority: cmd.priority ?? 0,
        moveOriginatorAet: cmd.moveOriginatorApplicationEntityTitle,
        moveOriginatorMessageId: cmd.moveOriginatorMessageId,
      };
      try {
        result = await this.setup.handlers.onStore(req, op.data);
      } catch (err) {
        this.setup.debug(`onStore failed: ${handlerErrorText(err)}`);
        result = { status: DimseStatus.ProcessingFailure, errorComment: 'Processing failure' };
      }
    }
    const category = statusCategory(result.status);
    if (category === 'success' || category === 'warning') this.stats.stored++;
    else this.stats.failed++;
    return result;
  }

  private async runOther(op: Operation): Promise<DimseResponse> {
    const handler = this.setup.handlers.onOtherCommand;
    if (handler === undefined) return { status: DimseStatus.UnrecognizedOperation };
    const req: OtherCommandRequest = {
      association: this.setup.info,
      presentationContextId: op.pcId,
      abstractSyntaxUid: op.context.abstractSyntax,
      transferSyntaxUid: op.context.transferSyntax,
      command: op.command,
      data: op.data,
      signal: op.controller.signal,
    };
    const requests = this.requests;
    const reply: DimseReplyChannel = {
      sendPending: async (pending) => {
        if (this.stopped) throw new AssociationClosedError('association closed');
        await this.respond(op, pending);
      },
      storageTransferSyntaxes: (uid) => requests.storageTransferSyntaxes(uid),
      store: (req) => requests.store(req),
      eventReport: (req) => requests.eventReport(req, op.pcId),
    };
    try {
      const response = await handler.call(this.setup.handlers, req, reply);
      return response ?? { status: DimseStatus.UnrecognizedOperation };
    } catch (err) {
      this.setup.debug(`onOtherCommand failed: ${handlerErrorText(err)}`);
      return { status: DimseStatus.ProcessingFailure, errorComment: 'Processing failure' };
    }
  }

  private accepts(uid: string): boolean {
    try {
      return this.setup.handlers.acceptsAbstractSyntax(uid);
    } catch (err) {
      this.setup.debug(`acceptsAbstractSyntax failed: ${handlerErrorText(err)}`);
      return false;
    }
  }
}

function unexpected(message: string): PduError {
  return new PduError(message, AbortReason.UnexpectedPduParameter);
}
