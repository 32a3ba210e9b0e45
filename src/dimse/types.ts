// The contract between the DIMSE transport and whoever uses it (the ingestion listener, and the
// services registered with DimseServiceRegistry). Everything here is transport-level: no
// persistence, no DICOM dataset parsing, no NestJS.

import { type Readable } from 'node:stream';
import { type DimseCommand } from './command.js';
import { type AssociationTls, type DimseServerTls } from './tls.js';

export interface AssociationInfo {
  /** Random per-association ID, for correlating logs and audit records. */
  id: string;
  callingAet: string;
  calledAet: string;
  remoteAddress: string;
  remotePort: number;
  /** Implementation class UID / version name the peer announced (diagnostics only). */
  implementationClassUid?: string;
  implementationVersionName?: string;
  /** Set when the association runs over TLS: protocol, cipher, the verified peer's subject. */
  tls?: AssociationTls;
}

/**
 * What to answer an A-ASSOCIATE-RQ with. For a rejection, result/source/reason are the
 * A-ASSOCIATE-RJ values of PS3.8 9.3.4 (result 1 permanent, 2 transient; source 1 service user,
 * 2 ACSE provider, 3 presentation provider). logReason goes to our log only, never on the wire.
 */
export type AssociationDecision =
  | { accept: true }
  | { accept: false; result: 1 | 2; source: 1 | 2 | 3; reason: number; logReason: string };

export interface StoreRequest {
  association: AssociationInfo;
  messageId: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  /** The accepted transfer syntax of the presentation context the data set arrives on. */
  transferSyntaxUid: string;
  presentationContextId: number;
  /** 0 medium, 1 high, 2 low (PS3.7 C.4.1.1.1 / E.1). */
  priority: number;
  moveOriginatorAet?: string;
  moveOriginatorMessageId?: number;
}

/** errorComment: at most 64 characters (LO), and never patient data. */
export interface DimseResult {
  status: number;
  errorComment?: string;
}

/** A response to a non-C-STORE command: extra command elements and an optional data set. */
export interface DimseResponse extends DimseResult {
  /** Extra command elements (e.g. sub-operation counters); transport-owned fields win. */
  command?: Partial<
    Omit<DimseCommand, 'commandField' | 'messageIdBeingRespondedTo' | 'commandDataSetType'>
  >;
  /** Data set bytes in the presentation context's transfer syntax (e.g. a C-FIND identifier). */
  dataset?: Buffer;
}

export interface OtherCommandRequest {
  association: AssociationInfo;
  presentationContextId: number;
  abstractSyntaxUid: string;
  transferSyntaxUid: string;
  command: DimseCommand;
  /** The request's data set, streamed like onStore's, or null when the command has none. */
  data: Readable | null;
  /** Aborted on a matching C-CANCEL-RQ or when the association ends. */
  signal: AbortSignal;
}

/**
 * A C-STORE-RQ we send: a C-GET sub-operation on the requester's own association (through
 * DimseReplyChannel), or a C-MOVE sub-operation on a DimseClient association.
 */
export interface OutgoingStoreRequest {
  sopClassUid: string;
  sopInstanceUid: string;
  /** The data set's transfer syntax; a context of sopClassUid must have accepted exactly this
   *  one (we send what we hold, never transcode). */
  transferSyntaxUid: string;
  /**
   * The data set (no Part 10 meta information), streamed in P-DATA fragments as it is read.
   * Consumed to the end on success and destroyed on failure. If it fails before its first byte,
   * nothing is sent; after that the association is aborted (half a message cannot be undone).
   */
  data: Readable;
  /** 0 medium (default), 1 high, 2 low. */
  priority?: number;
  /** For C-MOVE sub-operations: the C-MOVE's requester AE and Message ID (0000,1030/1031). */
  moveOriginator?: { aet: string; messageId: number };
}

/** A C-FIND, C-MOVE or C-GET we send as the SCU (DimseClient): pulling from a PACS. */
export interface OutgoingQueryRequest {
  /** CommandField.CFindRq, CMoveRq or CGetRq. */
  commandField: number;
  /** The information model, e.g. Study Root Query/Retrieve - FIND. */
  sopClassUid: string;
  /** The identifier, encoded in transferSyntaxUid. */
  identifier: Buffer;
  /** A context of sopClassUid must have accepted it (acceptedTransferSyntaxes tells which). */
  transferSyntaxUid: string;
  /** C-MOVE: the AE title the peer sends the instances to. */
  moveDestination?: string;
  /** 0 medium (default), 1 high, 2 low. */
  priority?: number;
  /** Aborting sends a C-CANCEL-RQ; the final response then normally has status Cancel (0xFE00). */
  signal?: AbortSignal;
  /** Each pending response, in order: a C-FIND match, a C-MOVE/C-GET progress report. */
  onPending?(response: QueryResponse): void;
}

/** A response to an OutgoingQueryRequest. */
export interface QueryResponse extends DimseResult {
  /** The whole response command (sub-operation counters...). */
  command: DimseCommand;
  /** Its data set in the context's transfer syntax: a C-FIND match; on a C-MOVE/C-GET failure,
   *  the Failed SOP Instance UID List. Null when it has none. */
  dataset: Buffer | null;
}

/** An N-EVENT-REPORT-RQ we send as the SCP of sopClassUid (Storage Commitment results). */
export interface EventReportRequest {
  sopClassUid: string;
  sopInstanceUid: string;
  /** Event Type ID (0000,1002), e.g. 1 = all committed, 2 = failures exist (PS3.4 J.3.3). */
  eventTypeId: number;
  /** Event Information, already encoded in the context's transfer syntax. */
  dataset: Buffer;
  /**
   * Use a context with this transfer syntax (the one the data set is encoded in). Default: on a
   * DimseReplyChannel, the context the handler's request came on if it is of sopClassUid (so a
   * report encoded in req.transferSyntaxUid fits), else the first fitting accepted context.
   */
  transferSyntaxUid?: string;
}

/**
 * What a handler may do on the association its request arrived on, besides returning the final
 * response. Requests we send (store, eventReport) go one at a time (we never negotiate an
 * asynchronous operations window); each resolves with the peer's response status, or rejects
 * with NoPresentationContextError (nothing sent), AssociationClosedError, or the data's error.
 */
export interface DimseReplyChannel {
  /** A pending response (C-FIND, C-MOVE, C-GET); resolves when the socket has room again. */
  sendPending(response: DimseResponse): Promise<void>;
  /**
   * Transfer syntaxes in which we may send sopClassUid on this association: contexts the
   * requester proposed with the SCP role for itself (a C-GET SCU) and we accepted. Empty: no
   * C-STORE sub-operation of that SOP class is possible.
   */
  storageTransferSyntaxes(sopClassUid: string): string[];
  /** Sends a C-STORE-RQ on this association (C-GET sub-operation) and awaits its C-STORE-RSP. */
  store(req: OutgoingStoreRequest): Promise<DimseResult>;
  /**
   * Sends an N-EVENT-REPORT-RQ on a context of sopClassUid where we are SCP (the default roles)
   * and awaits the N-EVENT-REPORT-RSP. Usable after the handler returned, while the
   * association lasts (a Storage Commitment report on the same association).
   */
  eventReport(req: EventReportRequest): Promise<DimseResult>;
}

export type AssociationCloseReason = 'released' | 'aborted' | 'dropped' | 'rejected';

export interface AssociationStats {
  /** C-STORE operations answered with success or warning. */
  stored: number;
  /** C-STORE operations answered with a failure status. */
  failed: number;
  /** Data set bytes received over the association. */
  bytesReceived: number;
  durationMs: number;
}

export interface DimseHandlers {
  /** Called once per A-ASSOCIATE-RQ, before presentation contexts are judged. */
  decideAssociation(info: AssociationInfo): AssociationDecision | Promise<AssociationDecision>;
  /** Whether we accept this abstract syntax (Verification is always accepted by the server itself). */
  acceptsAbstractSyntax(sopClassUid: string): boolean;
  /**
   * Whether a requester that proposes the SCP role for this (accepted) SOP class gets it, which
   * lets us send it requests of that class: a C-GET SCU takes the SCP role for the storage SOP
   * classes it wants the instances in (PS3.7 D.3.3.4, PS3.4 C.4.3). Absent: SOP classes under
   * the Storage root 1.2.840.10008.5.1.4.1.1 get it, nothing else.
   */
  acceptsRequesterScpRole?(sopClassUid: string): boolean;
  /**
   * Receives the data set bytes (exactly as sent, in the accepted TS, no Part 10 meta) as a
   * Readable. The handler must consume `data` to the end; the server applies backpressure
   * (pauses the socket while `data` is full). If the association drops mid-data-set, `data` is
   * destroyed with an error and the handler's promise result is ignored. If the handler settles
   * before the data set has fully arrived, the rest is discarded and the response is sent once
   * the last fragment is in. A rejected promise is answered with 0x0110 (processing failure).
   */
  onStore(req: StoreRequest, data: Readable): Promise<DimseResult>;
  /**
   * Commands other than C-ECHO and C-STORE (C-FIND, C-MOVE, C-GET, N-ACTION...). Return the final
   * response, or undefined to answer 0x0211 (unrecognized operation). Absent: always 0x0211.
   * C-CANCEL-RQ is routed to the matching request's `signal`, never here.
   */
  onOtherCommand?(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> | DimseResponse | undefined;
  /** Called once per association that got as far as an A-ASSOCIATE-RQ. */
  onAssociationClosed?(
    info: AssociationInfo,
    how: AssociationCloseReason,
    stats: AssociationStats,
  ): void;
}

export interface DimseLogger {
  /** `fields`: structured fields for the log line (the association summary's counts...). */
  log(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug?(msg: string): void;
}

export interface DimseServerOptions {
  host: string;
  /** 0 picks a free port; listen() resolves with the bound one. */
  port: number;
  /** Our AE title (used in log lines; called-AE checking is decideAssociation's job). */
  aeTitle: string;
  /** Largest P-DATA-TF we accept, announced in A-ASSOCIATE-AC. Default 1 MiB. */
  maxPduLength?: number;
  /** Abort an established association after this long without traffic. Default 60 s. */
  idleTimeoutMs?: number;
  /** ARTIM: how long a new connection may take to send its A-ASSOCIATE-RQ, and how long we wait
   *  for the peer to close after release/abort/reject. Default 30 s. */
  artimTimeoutMs?: number;
  /** Associations beyond this many are rejected (transient, local limit exceeded). Default none. */
  maxAssociations?: number;
  handlers: DimseHandlers;
  logger?: DimseLogger;
  /** Listen for DICOM over TLS (PS3.15 B.9) instead of plain TCP; files read at construction. */
  tls?: DimseServerTls;
}
