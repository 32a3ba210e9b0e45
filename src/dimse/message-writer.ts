// Outgoing DIMSE messages: building a response command set from a request, and writing command +
// data set as P-DATA-TF PDUs sized to what the peer said it can receive.

import { type Socket } from 'node:net';
import { DATA_SET_PRESENT, type DimseCommand, encodeCommand, NO_DATA_SET } from './command.js';
import { printable } from './log-text.js';
import { encodePDataHeader } from './pdu.js';
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
 * Writes a message as P-DATA-TF PDUs of one PDV each, fragments at most maxFragment bytes.
 * Headers and payload slices are written separately (corked), so payloads are never copied.
 * Resolves when the socket has room again, which gives multi-response operations flow control.
 */
export function writeMessage(
  socket: Socket,
  presentationContextId: number,
  maxFragment: number,
  command: DimseCommand,
  dataset?: Buffer,
): Promise<void> {
  if (!socket.writable) return Promise.resolve();
  socket.cork();
  writeFragments(socket, presentationContextId, maxFragment, true, encodeCommand(command));
  if (dataset !== undefined) {
    writeFragments(socket, presentationContextId, maxFragment, false, dataset);
  }
  socket.uncork();
  if (!socket.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

function writeFragments(
  socket: Socket,
  pcId: number,
  maxFragment: number,
  isCommand: boolean,
  data: Buffer,
): void {
  let off = 0;
  for (;;) {
    const n = Math.min(maxFragment, data.length - off);
    const last = off + n >= data.length;
    socket.write(encodePDataHeader(pcId, isCommand, last, n));
    if (n > 0) socket.write(data.subarray(off, off + n));
    off += n;
    if (last) return;
  }
}
