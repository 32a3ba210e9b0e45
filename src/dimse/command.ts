// DIMSE command sets (PS3.7 section 9.3 / 10.3, Annex E): group 0000 elements, always Implicit VR
// Little Endian whatever the presentation context's transfer syntax. One table drives both the
// encoder and the decoder, so any request or response (C-STORE today, C-FIND/C-MOVE/N-* later)
// is expressed as a plain DimseCommand object.

/** Command Field values (PS3.7 E.1). Responses are the request value | 0x8000. */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NGetRq: 0x0110,
  NGetRsp: 0x8110,
  NSetRq: 0x0120,
  NSetRsp: 0x8120,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
  NCreateRq: 0x0140,
  NCreateRsp: 0x8140,
  NDeleteRq: 0x0150,
  NDeleteRsp: 0x8150,
  CCancelRq: 0x0fff,
} as const;

/** CommandDataSetType value meaning "no data set follows"; any other value means one does. */
export const NO_DATA_SET = 0x0101;
/** The value we write when a data set follows (PS3.7 E.1 only requires "not 0x0101"). */
export const DATA_SET_PRESENT = 0x0000;

/** Decoded / to-be-encoded command set. Only commandField and commandDataSetType are mandatory. */
export interface DimseCommand {
  affectedSopClassUid?: string;
  requestedSopClassUid?: string;
  commandField: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  moveDestination?: string;
  priority?: number;
  commandDataSetType: number;
  status?: number;
  /** AT, multi-valued: tags as 0xGGGGEEEE. */
  offendingElement?: number[];
  errorComment?: string;
  errorId?: number;
  affectedSopInstanceUid?: string;
  requestedSopInstanceUid?: string;
  eventTypeId?: number;
  /** AT, multi-valued: tags as 0xGGGGEEEE. */
  attributeIdentifierList?: number[];
  actionTypeId?: number;
  numberOfRemainingSuboperations?: number;
  numberOfCompletedSuboperations?: number;
  numberOfFailedSuboperations?: number;
  numberOfWarningSuboperations?: number;
  moveOriginatorApplicationEntityTitle?: string;
  moveOriginatorMessageId?: number;
}

/** Thrown for command sets we cannot make sense of; the association turns it into an A-ABORT. */
export class CommandDecodeError extends Error {
  override readonly name = 'CommandDecodeError';
}

type CommandVr = 'UI' | 'US' | 'AE' | 'LO' | 'AT';
type CommandKey = keyof DimseCommand;
interface ElementDef {
  readonly element: number;
  readonly key: CommandKey;
  readonly vr: CommandVr;
}

// Sorted by element number: the encoder relies on this to emit elements in ascending tag order.
const ELEMENTS: readonly ElementDef[] = [
  { element: 0x0002, key: 'affectedSopClassUid', vr: 'UI' },
  { element: 0x0003, key: 'requestedSopClassUid', vr: 'UI' },
  { element: 0x0100, key: 'commandField', vr: 'US' },
  { element: 0x0110, key: 'messageId', vr: 'US' },
  { element: 0x0120, key: 'messageIdBeingRespondedTo', vr: 'US' },
  { element: 0x0600, key: 'moveDestination', vr: 'AE' },
  { element: 0x0700, key: 'priority', vr: 'US' },
  { element: 0x0800, key: 'commandDataSetType', vr: 'US' },
  { element: 0x0900, key: 'status', vr: 'US' },
  { element: 0x0901, key: 'offendingElement', vr: 'AT' },
  { element: 0x0902, key: 'errorComment', vr: 'LO' },
  { element: 0x0903, key: 'errorId', vr: 'US' },
  { element: 0x1000, key: 'affectedSopInstanceUid', vr: 'UI' },
  { element: 0x1001, key: 'requestedSopInstanceUid', vr: 'UI' },
  { element: 0x1002, key: 'eventTypeId', vr: 'US' },
  { element: 0x1005, key: 'attributeIdentifierList', vr: 'AT' },
  { element: 0x1008, key: 'actionTypeId', vr: 'US' },
  { element: 0x1020, key: 'numberOfRemainingSuboperations', vr: 'US' },
  { element: 0x1021, key: 'numberOfCompletedSuboperations', vr: 'US' },
  { element: 0x1022, key: 'numberOfFailedSuboperations', vr: 'US' },
  { element: 0x1023, key: 'numberOfWarningSuboperations', vr: 'US' },
  { element: 0x1030, key: 'moveOriginatorApplicationEntityTitle', vr: 'AE' },
  { element: 0x1031, key: 'moveOriginatorMessageId', vr: 'US' },
];
const BY_ELEMENT = new Map<number, ElementDef>(ELEMENTS.map((d) => [d.element, d]));

/** A command set is a handful of elements; anything bigger is hostile. */
export const MAX_COMMAND_LENGTH = 64 * 1024;

/** Encodes a command set, including CommandGroupLength, as Implicit VR Little Endian. */
export function encodeCommand(command: DimseCommand): Buffer {
  const values: { def: ElementDef; bytes: Buffer }[] = [];
  for (const def of ELEMENTS) {
    const value = command[def.key];
    if (value === undefined) continue;
    values.push({ def, bytes: encodeValue(def, value) });
  }
  const groupLength = values.reduce((n, v) => n + 8 + v.bytes.length, 0);
  const out = Buffer.allocUnsafe(12 + groupLength);
  out.writeUInt16LE(0x0000, 0);
  out.writeUInt16LE(0x0000, 2);
  out.writeUInt32LE(4, 4);
  out.writeUInt32LE(groupLength, 8);
  let off = 12;
  for (const { def, bytes } of values) {
    out.writeUInt16LE(0x0000, off);
    out.writeUInt16LE(def.element, off + 2);
    out.writeUInt32LE(bytes.length, off + 4);
    bytes.copy(out, off + 8);
    off += 8 + bytes.length;
  }
  return out;
}

function encodeValue(def: ElementDef, value: string | number | number[]): Buffer {
  switch (def.vr) {
    case 'US': {
      const b = Buffer.allocUnsafe(2);
      b.writeUInt16LE(Number(value) & 0xffff, 0);
      return b;
    }
    case 'AT': {
      const tags = Array.isArray(value) ? value : [Number(value)];
      const b = Buffer.allocUnsafe(tags.length * 4);
      tags.forEach((t, i) => {
        b.writeUInt16LE((t >>> 16) & 0xffff, i * 4);
        b.writeUInt16LE(t & 0xffff, i * 4 + 2);
      });
      return b;
    }
    case 'UI':
      // UIDs pad with NUL to an even length (PS3.5 9.1).
      return padEven(String(value), 0x00);
    case 'AE':
    case 'LO':
      return padEven(String(value), 0x20);
  }
}

function padEven(text: string, pad: number): Buffer {
  // latin1 keeps one byte per character; command strings are ASCII by definition.
  const raw = Buffer.from(text, 'latin1');
  if (raw.length % 2 === 0) return raw;
  const out = Buffer.allocUnsafe(raw.length + 1);
  raw.copy(out);
  out[raw.length] = pad;
  return out;
}

/**
 * Decodes an Implicit VR Little Endian command set. Unknown group 0000 elements and elements of
 * other groups are skipped (forward compatibility); structural errors throw CommandDecodeError.
 */
export function decodeCommand(buf: Buffer): DimseCommand {
  if (buf.length > MAX_COMMAND_LENGTH) throw new CommandDecodeError('command set too long');
  const out: Partial<Record<CommandKey, string | number | number[]>> = {};
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 8) throw new CommandDecodeError('truncated element header');
    const group = buf.readUInt16LE(off);
    const element = buf.readUInt16LE(off + 2);
    const length = buf.readUInt32LE(off + 4);
    off += 8;
    if (length > buf.length - off) throw new CommandDecodeError('element length past end');
    const value = buf.subarray(off, off + length);
    off += length;
    if (group !== 0x0000) continue;
    const def = BY_ELEMENT.get(element);
    if (def === undefined) continue;
    out[def.key] = decodeValue(def, value);
  }
  if (typeof out.commandField !== 'number') {
    throw new CommandDecodeError('missing CommandField');
  }
  if (typeof out.commandDataSetType !== 'number') {
    // Required by PS3.7; a sender that omits it cannot be sending a data set we could frame.
    out.commandDataSetType = NO_DATA_SET;
  }
  return out as DimseCommand;
}

function decodeValue(def: ElementDef, value: Buffer): string | number | number[] {
  switch (def.vr) {
    case 'US':
      if (value.length !== 2) throw new CommandDecodeError(`bad US length for ${def.key}`);
      return value.readUInt16LE(0);
    case 'AT': {
      if (value.length % 4 !== 0) throw new CommandDecodeError(`bad AT length for ${def.key}`);
      const tags: number[] = [];
      for (let i = 0; i < value.length; i += 4) {
        tags.push(((value.readUInt16LE(i) << 16) | value.readUInt16LE(i + 2)) >>> 0);
      }
      return tags;
    }
    case 'UI':
      return trimValue(value.toString('latin1'));
    case 'AE':
    case 'LO':
      return trimValue(value.toString('latin1'));
  }
}

/** Strips NUL and space padding (and, for AE, leading spaces which are not significant). */
function trimValue(text: string): string {
  return text.replace(/^[\s\0]+|[\s\0]+$/g, '');
}

/** True when the command announces a data set after it. */
export function hasDataSet(command: DimseCommand): boolean {
  return command.commandDataSetType !== NO_DATA_SET;
}
