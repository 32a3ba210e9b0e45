// The requests we send on an association (C-STORE-RQ, N-EVENT-REPORT-RQ) and the matching of the
// peer's responses to them. Shared by both ends: the acceptor (a C-GET handler's sub-operations,
// Storage Commitment reports) and DimseClient (C-MOVE sub-operations, reports on a new
// association). One request at a time: we never negotiate an asynchronous operations window, so
// the default of one outstanding operation per invoker applies (PS3.7 D.3.3.3).

import { CommandField, DATA_SET_PRESENT, type DimseCommand, NO_DATA_SET } from './command.js';
import { DimseTimeoutError, NoPresentationContextError } from './errors.js';
import { type MessageWriter } from './message-writer.js';
import { type AcceptedContext } from './negotiation.js';
import { AbortReason, PduError } from './pdu.js';
import { statusCategory } from './status.js';
import {
  type DimseResult,
  type EventReportRequest,
  type OutgoingQueryRequest,
  type OutgoingStoreRequest,
  type QueryResponse,
} from './types.js';

/** The response command fields of the requests that may get pending responses. */
const MULTI_RESPONSE = new Set<number>([
  CommandField.CFindRsp,
  CommandField.CMoveRsp,
  CommandField.CGetRsp,
]);

export interface OutgoingRequestsSetup {
  writer: MessageWriter;
  /** Indexed by presentation context ID. */
  accepted: readonly (AcceptedContext | undefined)[];
  /** How long to wait for a response once the request is sent; undefined = forever (the
   *  acceptor leaves that to its idle timeout). */
  responseTimeoutMs?: number;
  /** A response did not come in time: the association must be aborted. */
  onResponseTimeout(): void;
  /** A request settled (lets a draining association notice it is idle). */
  onSettled(): void;
}

interface Awaited {
  readonly messageId: number;
  readonly responseField: number;
  /** Pending responses (C-FIND, C-MOVE, C-GET) go here; the final one settles the request. */
  readonly onPending: ((response: QueryResponse) => void) | undefined;
  /** The request is entirely on the wire: from now on only the peer can make progress. */
  sent: boolean;
  timer: NodeJS.Timeout | null;
  resolve(response: QueryResponse): void;
  reject(err: unknown): void;
}

export class OutgoingRequests {
  private lastMessageId = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private awaited: Awaited | null = null;
  private closedBy: Error | null = null;

  constructor(private readonly setup: OutgoingRequestsSetup) {}

  /** A request is sent and its response is overdue only if the peer is slow. */
  get waitingForPeer(): boolean {
    return this.awaited?.sent === true;
  }

  /** No request queued, being sent, or awaiting its response. */
  get idle(): boolean {
    return this.queued === 0;
  }

  /** Transfer syntaxes of the accepted contexts of an abstract syntax (any role). */
  acceptedTransferSyntaxes(abstractSyntax: string): string[] {
    return this.transferSyntaxes((c) => c.abstractSyntax === abstractSyntax);
  }

  /** Transfer syntaxes in which we may send C-STORE-RQs of sopClassUid (we are its SCU). */
  storageTransferSyntaxes(sopClassUid: string): string[] {
    return this.transferSyntaxes((c) => c.abstractSyntax === sopClassUid && c.weAreScu);
  }

  async store(req: OutgoingStoreRequest): Promise<DimseResult> {
    const pcId = this.findContext(
      (c) =>
        c.abstractSyntax === req.sopClassUid &&
        c.transferSyntax === req.transferSyntaxUid &&
        c.weAreScu,
    );
    if (pcId === undefined) {
      req.data.destroy();
      throw new NoPresentationContextError(req.sopClassUid, req.transferSyntaxUid);
    }
    const result = this.invokeSimple(CommandField.CStoreRsp, (messageId) =>
      this.setup.writer.stream(
        pcId,
        {
          commandField: CommandField.CStoreRq,
          messageId,
          affectedSopClassUid: req.sopClassUid,
          affectedSopInstanceUid: req.sopInstanceUid,
          priority: req.priority ?? 0,
          commandDataSetType: DATA_SET_PRESENT,
          moveOriginatorApplicationEntityTitle: req.moveOriginator?.aet,
          moveOriginatorMessageId: req.moveOriginator?.messageId,
        },
        req.data,
      ),
    );
    // Whatever went wrong (even before it was read: the association had ended), `data` is done.
    return result.catch((err: unknown) => {
      if (!req.data.destroyed) req.data.destroy();
      throw err;
    });
  }

  /** preferredPcId: the context to use if it fits (the one the N-ACTION being answered came on). */
  async eventReport(req: EventReportRequest, preferredPcId?: number): Promise<DimseResult> {
    const fits = (c: AcceptedContext): boolean =>
      c.abstractSyntax === req.sopClassUid &&
      (req.transferSyntaxUid === undefined || c.transferSyntax === req.transferSyntaxUid) &&
      c.weAreScp;
    const preferred = preferredPcId === undefined ? undefined : this.setup.accepted[preferredPcId];
    const pcId =
      preferred !== undefined && fits(preferred) ? preferredPcId : this.findContext(fits);
    if (pcId === undefined) {
      throw new NoPresentationContextError(req.sopClassUid, req.transferSyntaxUid);
    }
    return this.invokeSimple(CommandField.NEventReportRsp, (messageId) =>
      this.setup.writer.write(
        pcId,
        {
          commandField: CommandField.NEventReportRq,
          messageId,
          affectedSopClassUid: req.sopClassUid,
          affectedSopInstanceUid: req.sopInstanceUid,
          eventTypeId: req.eventTypeId,
          commandDataSetType: DATA_SET_PRESENT,
        },
        req.dataset,
      ),
    );
  }

  /**
   * Sends a C-FIND-RQ, C-MOVE-RQ or C-GET-RQ with its identifier; each pending response goes to
   * req.onPending, and the promise resolves with the final one. An abort of req.signal while the
   * peer works sends a C-CANCEL-RQ (once); the peer still answers with a final response.
   */
  async query(req: OutgoingQueryRequest): Promise<QueryResponse> {
    const pcId = this.findContext(
      (c) =>
        c.abstractSyntax === req.sopClassUid &&
        c.transferSyntax === req.transferSyntaxUid &&
        c.weAreScu,
    );
    if (pcId === undefined) {
      throw new NoPresentationContextError(req.sopClassUid, req.transferSyntaxUid);
    }
    let messageId = 0;
    const cancel = (): void => {
      if (messageId === 0 || this.awaited?.messageId !== messageId) return;
      void this.setup.writer.write(pcId, {
        commandField: CommandField.CCancelRq,
        messageIdBeingRespondedTo: messageId,
        commandDataSetType: NO_DATA_SET,
      });
    };
    req.signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await this.invoke(
        req.commandField | 0x8000,
        async (id) => {
          messageId = id;
          await this.setup.writer.write(
            pcId,
            {
              commandField: req.commandField,
              messageId: id,
              affectedSopClassUid: req.sopClassUid,
              priority: req.priority ?? 0,
              moveDestination: req.moveDestination,
              commandDataSetType: DATA_SET_PRESENT,
            },
            req.identifier,
          );
          if (req.signal?.aborted) cancel();
        },
        req.onPending,
      );
    } finally {
      req.signal?.removeEventListener('abort', cancel);
    }
  }

  /**
   * A response arrived (command field with the 0x8000 bit), with its data set if it has one: a
   * pending one goes to the request's onPending, a final one settles the request it answers.
   */
  onResponse(command: DimseCommand, dataset: Buffer | null): void {
    const awaited = this.awaited;
    if (awaited === null || command.messageIdBeingRespondedTo !== awaited.messageId) {
      throw new PduError(
        `DIMSE response 0x${command.commandField.toString(16)} to no request of ours`,
        AbortReason.UnexpectedPduParameter,
      );
    }
    if (command.commandField !== awaited.responseField || command.status === undefined) {
      throw new PduError(
        `malformed DIMSE response 0x${command.commandField.toString(16)}`,
        AbortReason.UnexpectedPduParameter,
      );
    }
    const response: QueryResponse = {
      status: command.status,
      errorComment: command.errorComment,
      command,
      dataset,
    };
    if (statusCategory(command.status) === 'pending' && MULTI_RESPONSE.has(awaited.responseField)) {
      this.peerActive();
      awaited.onPending?.(response);
      return;
    }
    this.settle(awaited);
    awaited.resolve(response);
  }

  /**
   * The peer shows it is working on our request (a pending response, a C-GET's C-STORE
   * sub-operation): the response timeout starts again, since it bounds silence, not the work.
   */
  peerActive(): void {
    const awaited = this.awaited;
    const ms = this.setup.responseTimeoutMs;
    if (awaited?.timer == null || ms === undefined) return;
    clearTimeout(awaited.timer);
    awaited.timer = setTimeout(() => this.timeOut(awaited, ms), ms);
  }

  /** The association ended: the request in flight and any later one reject with err. */
  close(err: Error): void {
    this.closedBy ??= err;
    const awaited = this.awaited;
    if (awaited !== null) {
      this.settle(awaited);
      awaited.reject(this.closedBy);
    }
  }

  /** A request with one response: its status and comment. */
  private async invokeSimple(
    responseField: number,
    send: (messageId: number) => Promise<void>,
  ): Promise<DimseResult> {
    const response = await this.invoke(responseField, send);
    return { status: response.status, errorComment: response.errorComment };
  }

  /** Queues a request behind the previous one; send() writes it with the given Message ID. */
  private invoke(
    responseField: number,
    send: (messageId: number) => Promise<void>,
    onPending?: (response: QueryResponse) => void,
  ): Promise<QueryResponse> {
    this.queued++;
    const run = async (): Promise<QueryResponse> => {
      try {
        if (this.closedBy !== null) throw this.closedBy;
        return await this.exchange(responseField, send, onPending);
      } finally {
        this.queued--;
        this.setup.onSettled();
      }
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async exchange(
    responseField: number,
    send: (messageId: number) => Promise<void>,
    onPending: ((response: QueryResponse) => void) | undefined,
  ): Promise<QueryResponse> {
    // Message IDs: 1..65535 and round again; with one request at a time they never collide.
    this.lastMessageId = (this.lastMessageId % 0xffff) + 1;
    let awaited!: Awaited;
    const response = new Promise<QueryResponse>((resolve, reject) => {
      awaited = {
        messageId: this.lastMessageId,
        responseField,
        onPending,
        sent: false,
        timer: null,
        resolve,
        reject,
      };
    });
    response.catch(() => undefined); // observed below, after sending
    // Registered before sending: a peer may answer before it has the whole data set.
    this.awaited = awaited;
    try {
      await send(awaited.messageId);
    } catch (err) {
      this.settle(awaited);
      throw err;
    }
    if (this.awaited === awaited) {
      awaited.sent = true;
      const ms = this.setup.responseTimeoutMs;
      if (ms !== undefined) awaited.timer = setTimeout(() => this.timeOut(awaited, ms), ms);
    }
    return response;
  }

  private timeOut(awaited: Awaited, ms: number): void {
    if (this.awaited !== awaited) return;
    this.settle(awaited);
    awaited.reject(new DimseTimeoutError(`no DIMSE response within ${ms} ms`));
    this.setup.onResponseTimeout();
  }

  private settle(awaited: Awaited): void {
    if (awaited.timer !== null) clearTimeout(awaited.timer);
    awaited.timer = null;
    if (this.awaited === awaited) this.awaited = null;
  }

  private findContext(match: (c: AcceptedContext) => boolean): number | undefined {
    const accepted = this.setup.accepted;
    for (let id = 1; id < accepted.length; id += 2) {
      const c = accepted[id];
      if (c !== undefined && match(c)) return id;
    }
    return undefined;
  }

  private transferSyntaxes(match: (c: AcceptedContext) => boolean): string[] {
    const out = new Set<string>();
    for (const c of this.setup.accepted) if (c !== undefined && match(c)) out.add(c.transferSyntax);
    return [...out];
  }
}
