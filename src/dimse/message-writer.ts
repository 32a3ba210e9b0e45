// Outgoing DIMSE messages: building a response command set from a request, and writing command +
// data set (a Buffer, or streamed from a Readable) as P-DATA-TF PDUs sized to what the peer said
// it can receive.

import { type Socket } from 'node:net';
import { finished, type Readable } from 'node:stream';
import { DATA_SET_PRESENT, type DimseCommand, encodeCommand, NO_DATA_SET } from './command.js';
import { AssociationClosedError } from './errors.js';
import { printable } from './log-text.js';
import { encodePDataHeader, PDV_HEADER_LENGTH } from './pdu.js';
import { DimseStatus } from './status.js';
import { type DimseResponse } from './types.js';

/** ErrorComment is an LO: 64 characters at most. */
const MAX_ERROR_COMMENT = 64;

/**
 * The response command for a request: command field with the response bit, the request's
 * message ID, its SOP class/instance (N- requests carry "requested" ones, responses "affected"),
 * then whatever extra elements the handler supplied.
 */
export function buildResponse(request: DimseCommand, response: DimseResponse): DimseCommand {
  const extra = response.command ?? {};
  const command: DimseCommand = {
    ...extra,
    commandField: request.commandField | 0x8000,
    messageIdBeingRespondedTo: request.messageId,
    affectedSopClassUid:
      extra.affectedSopClassUid ?? request.affectedSopClassUid ?? request.requestedSopClassUid,
    affectedSopInstanceUid:
      extra.affectedSopInstanceUid ??
      request.affectedSopInstanceUid ??
      request.requestedSopInstanceUid,
    commandDataSetType: response.dataset ? DATA_SET_PRESENT : NO_DATA_SET,
    status: response.status,
  };
  delete command.errorComment;
  if (response.errorComment && response.status !== DimseStatus.Success) {
    command.errorComment = printable(response.errorComment).slice(0, MAX_ERROR_COMMENT);
  }
  return command;
}

/**
 * The largest PDV payload we send: what fits the peer's maximum PDU (0 = no limit) after the PDV
 * header, never more than our own maximum allows, so one fragment bounds what we hold in memory.
 */
export function maxPdvPayload(peerMaxPduLength: number, ourMaxPduLength: number): number {
  const ours = ourMaxPduLength - PDV_HEADER_LENGTH;
  const peer = peerMaxPduLength === 0 ? ours : peerMaxPduLength - PDV_HEADER_LENGTH;
  return Math.max(1, Math.min(peer, ours));
}

/**
 * Writes an association's outgoing messages as P-DATA-TF PDUs of one PDV each, fragments at most
 * maxFragment bytes. Messages never interleave (PS3.8 9.3.5: a receiver expects a message's
 * PDVs in one run), so a message whose data set streams in over time holds the others back.
 * Headers and payload slices are written separately (corked): payloads are never copied.
 */
export class MessageWriter {
  private busy: Promise<void> | null = null;
  private closed = false;
  private readonly wakers = new Set<() => void>();

  /** onBroken: a streamed data set failed after part of it was sent; the association must abort. */
  constructor(
    private readonly socket: Socket,
    private readonly maxFragment: number,
    private readonly onBroken: (err: unknown) => void,
  ) {}

  /**
   * Writes a whole message at once: at once if no streamed message is under way (so a response
   * written before an A-RELEASE-RP goes out before it). Resolves when the socket has room again,
   * which gives multi-response operations flow control. A closed association: nothing happens.
   *
   * The socket stays corked until the next tick: messages written one after the other in the
   * same turn (a batch of C-FIND pending responses) leave in one system call, in order.
   */
  async write(pcId: number, command: DimseCommand, dataset?: Buffer): Promise<void> {
    while (this.busy !== null) await this.busy;
    if (this.closed || !this.socket.writable) return;
    this.socket.cork();
    this.fragments(pcId, true, encodeCommand(command));
    if (dataset !== undefined) this.fragments(pcId, false, dataset);
    await new Promise<void>((resolve) =>
      process.nextTick(() => {
        this.socket.uncork();
        resolve();
      }),
    );
    await this.room();
  }

  /**
   * Writes a message whose data set is read from `data` as it goes: bounded memory whatever its
   * size (one fragment, one source chunk, and the socket buffer, which we let drain before
   * reading on). The command goes out with the first data fragment, so a source that fails
   * before its first byte leaves nothing on the wire. Rejects with AssociationClosedError if the
   * association ends, or with the source's error; `data` is destroyed on any failure.
   *
   * The source's chunks are taken as it pushes them ('data' events: async iteration would
   * concatenate what it holds, a copy of the data set), and the full fragments of each go out
   * under one cork: one system call per source chunk, not per fragment.
   */
  async stream(pcId: number, command: DimseCommand, data: Readable): Promise<void> {
    while (this.busy !== null) await this.busy;
    let release!: () => void;
    this.busy = new Promise((resolve) => (release = resolve));
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    let started = false;
    const fragment = (n: number, last: boolean): void => {
      this.socket.write(encodePDataHeader(pcId, false, last, n));
      for (let left = n; left > 0;) {
        const head = pending[0]!;
        const piece = head.length <= left ? head : head.subarray(0, left);
        if (piece === head) pending.shift();
        else pending[0] = head.subarray(left);
        this.socket.write(piece);
        left -= piece.length;
      }
      pendingBytes -= n;
    };
    /** The full fragments held (and, at the end, the rest as the last one), in one write. */
    const emit = (end: boolean): void => {
      // Strictly more than a fragment: a last fragment of exactly maxFragment must wait for the
      // end of the source to be flagged last.
      if (!end && pendingBytes <= this.maxFragment) return;
      this.socket.cork();
      if (!started) this.fragments(pcId, true, encodeCommand(command));
      started = true;
      while (pendingBytes > this.maxFragment) fragment(this.maxFragment, false);
      if (end) fragment(pendingBytes, true);
      this.socket.uncork();
    };
    try {
      this.checkOpen();
      await this.consume(data, (chunk) => {
        this.checkOpen();
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
        pending.push(buf);
        pendingBytes += buf.length;
        emit(false);
      });
      this.checkOpen();
      emit(true);
      await this.room();
    } catch (err) {
      if (!data.destroyed) data.destroy();
      if (started && !(err instanceof AssociationClosedError)) this.onBroken(err);
      throw err;
    } finally {
      this.busy = null;
      release();
    }
  }

  /** Resolves once no streamed message is under way. */
  async whenIdle(): Promise<void> {
    while (this.busy !== null) await this.busy;
  }

  /** The association is ending: streamed messages stop at their next step. */
  close(): void {
    this.closed = true;
    for (const wake of this.wakers) wake();
  }

  private checkOpen(): void {
    if (this.closed || !this.socket.writable) {
      throw new AssociationClosedError('association ended while a message was being sent');
    }
  }

  /**
   * Hands each chunk of `data` to `take` as the source pushed it, pausing the source while the
   * socket buffer is full; resolves at its end, rejects with its error or with what `take` threw.
   */
  private consume(data: Readable, take: (chunk: Buffer | string) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const settle = (err?: unknown): void => {
        if (done) return;
        done = true;
        data.off('data', onData);
        stopWatching();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onData = (chunk: Buffer | string): void => {
        try {
          take(chunk);
        } catch (err) {
          data.pause();
          settle(err);
          return;
        }
        if (this.socket.writableNeedDrain) {
          data.pause();
          void this.room().then(() => {
            if (!done) data.resume();
          });
        }
      };
      const stopWatching = finished(data, { writable: false }, (err) => settle(err ?? undefined));
      data.on('data', onData);
    });
  }

  /** Resolves when the socket buffer has drained (or the association ended). */
  private room(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.wakers.delete(done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
      this.wakers.add(done);
    });
  }

  private fragments(pcId: number, isCommand: boolean, data: Buffer): void {
    let off = 0;
    for (;;) {
      const n = Math.min(this.maxFragment, data.length - off);
      const last = off + n >= data.length;
      this.socket.write(encodePDataHeader(pcId, isCommand, last, n));
      if (n > 0) this.socket.write(data.subarray(off, off + n));
      off += n;
      if (last) return;
    }
  }
}
