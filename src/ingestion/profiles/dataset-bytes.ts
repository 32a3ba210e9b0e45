import { LONG_VRS } from '../../dicom/index.js';

/**
 * Byte-level reading and writing of the elements of a data set (or of one sequence item), for
 * vendor profiles: they splice changed elements into a header and copy every other byte as it
 * was received. Nothing here decodes values; nested sequences are skipped over (checked for
 * structure, never re-encoded). Every length is checked against its container, nesting is bounded,
 * and the walk is iterative: hostile input ends in a SpliceError, never a crash or a hang.
 */

export interface ByteEncoding {
  explicitVr: boolean;
  littleEndian: boolean;
}

/** One element as it sits in the bytes. */
export interface RawElement {
  tag: number;
  /** Explicit VR: as written. Implicit VR: '' (the caller asks the dictionary). */
  vr: string;
  /** Offset of the element's header. */
  start: number;
  /** Offset of its value. */
  valueStart: number;
  /** The value length; null for undefined length (a sequence, closed by its delimiter). */
  valueLength: number | null;
  /** Offset after the element (after its sequence delimiter, for undefined length). */
  end: number;
}

export class SpliceError extends Error {
  override readonly name = 'SpliceError';
}

const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
/** Sequence and item frames: 64 levels of nesting, as the header capture allows. */
const MAX_FRAMES = 128;
const VR_PATTERN = /^[A-Z]{2}$/;

function bad(what: string): SpliceError {
  return new SpliceError(`malformed data set: ${what}`);
}

export function u16(b: Buffer, at: number, le: boolean): number {
  return le ? b.readUInt16LE(at) : b.readUInt16BE(at);
}

export function u32(b: Buffer, at: number, le: boolean): number {
  return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
}

function tagAt(b: Buffer, at: number, le: boolean): number {
  return ((u16(b, at, le) << 16) | u16(b, at + 2, le)) >>> 0;
}

/**
 * The elements of a data set in [start, end): a whole header (start 0, end its length), or the
 * body of a sequence item. With `delimited`, the walk ends at an item delimiter (FFFE,E00D) and
 * `next` is the offset after it. Elements must be in strictly ascending tag order.
 */
export function walkElements(
  bytes: Buffer,
  enc: ByteEncoding,
  start = 0,
  end = bytes.length,
  delimited = false,
): { elements: RawElement[]; next: number } {
  const le = enc.littleEndian;
  const elements: RawElement[] = [];
  let p = start;
  let previous = -1;
  while (p < end) {
    if (p + 8 > end) throw bad('the data set ends inside an element header');
    const tag = tagAt(bytes, p, le);
    if (tag >>> 16 === 0xfffe) {
      if (delimited && tag === ITEM_DELIMITER) return { elements, next: p + 8 };
      throw bad('an item tag where a data element belongs');
    }
    if (tag <= previous) throw bad('the elements are not in ascending tag order');
    previous = tag;
    let vr = '';
    let headerLength = 8;
    let length: number;
    if (enc.explicitVr) {
      vr = bytes.toString('latin1', p + 4, p + 6);
      if (!VR_PATTERN.test(vr)) throw bad('an element has an invalid VR');
      if (LONG_VRS.has(vr)) {
        if (p + 12 > end) throw bad('the data set ends inside an element header');
        headerLength = 12;
        length = u32(bytes, p + 8, le);
      } else {
        length = u16(bytes, p + 6, le);
      }
    } else {
      length = u32(bytes, p + 4, le);
    }
    const valueStart = p + headerLength;
    if (length === UNDEFINED) {
      const after = skipUndefined(bytes, enc, tag, vr, valueStart, end);
      elements.push({ tag, vr, start: p, valueStart, valueLength: null, end: after });
      p = after;
      continue;
    }
    if (length % 2 !== 0) throw bad('an odd value length');
    if (valueStart + length > end) throw bad('an element overruns the data set');
    elements.push({ tag, vr, start: p, valueStart, valueLength: length, end: valueStart + length });
    p = valueStart + length;
  }
  if (delimited) throw bad('an item of undefined length is not closed');
  return { elements, next: p };
}

interface Frame {
  kind: 'sequence' | 'fragments' | 'item';
  /** Absolute end, or -1 when closed by a delimiter. */
  end: number;
  explicitVr: boolean;
  le: boolean;
}

/** What an undefined-length value holds, from its element's VR (or tag, in implicit VR). */
function undefinedKind(
  tag: number,
  vr: string,
  enc: ByteEncoding,
): Pick<Frame, 'kind' | 'explicitVr' | 'le'> {
  if (!enc.explicitVr) {
    return {
      kind: tag === 0x7fe00010 ? 'fragments' : 'sequence',
      explicitVr: false,
      le: enc.littleEndian,
    };
  }
  if (vr === 'SQ') return { kind: 'sequence', explicitVr: true, le: enc.littleEndian };
  // A UN sequence of undefined length is implicit VR little endian inside (PS3.5 6.2.2).
  if (vr === 'UN') return { kind: 'sequence', explicitVr: false, le: true };
  if (vr === 'OB' || vr === 'OW')
    return { kind: 'fragments', explicitVr: true, le: enc.littleEndian };
  throw bad('an undefined length on a VR that cannot have one');
}

/** Skips an undefined-length value from `start`; returns the offset after its delimiter. */
function skipUndefined(
  b: Buffer,
  enc: ByteEncoding,
  tag: number,
  vr: string,
  start: number,
  limit: number,
): number {
  const stack: Frame[] = [{ ...undefinedKind(tag, vr, enc), end: -1 }];
  let p = start;
  for (;;) {
    let top = stack.at(-1)!;
    while (top.end >= 0 && p >= top.end) {
      if (p !== top.end) throw bad('an element overruns its item');
      stack.pop();
      top = stack.at(-1)!;
    }
    const bound = stack.reduce((m, f) => (f.end >= 0 ? Math.min(m, f.end) : m), limit);
    if (p + 8 > bound) throw bad('a sequence is not closed');
    const t = tagAt(b, p, top.le);
    if (t >>> 16 === 0xfffe) {
      const length = u32(b, p + 4, top.le);
      if (t === ITEM) {
        if (top.kind === 'item') throw bad('an item outside a sequence');
        if (top.kind === 'fragments') {
          if (length === UNDEFINED || length % 2 !== 0 || p + 8 + length > bound) {
            throw bad('a fragment with a bad length');
          }
          p += 8 + length;
          continue;
        }
        const end = length === UNDEFINED ? -1 : p + 8 + length;
        if (end > bound) throw bad('an item overruns its sequence');
        if (stack.length >= MAX_FRAMES) throw bad('sequences nested too deeply');
        stack.push({ kind: 'item', end, explicitVr: top.explicitVr, le: top.le });
        p += 8;
        continue;
      }
      if (t === ITEM_DELIMITER) {
        if (top.kind !== 'item' || top.end >= 0 || length !== 0) {
          throw bad('an item delimiter out of place');
        }
        stack.pop();
        p += 8;
        continue;
      }
      if (t === SEQUENCE_DELIMITER) {
        if (top.kind === 'item' || top.end >= 0 || length !== 0) {
          throw bad('a sequence delimiter out of place');
        }
        stack.pop();
        p += 8;
        if (stack.length === 0) return p;
        continue;
      }
      throw bad('an unknown item tag');
    }
    if (top.kind !== 'item') throw bad('a data element where an item belongs');
    let headerLength = 8;
    let length: number;
    let elementVr = '';
    if (top.explicitVr) {
      elementVr = b.toString('latin1', p + 4, p + 6);
      if (!VR_PATTERN.test(elementVr)) throw bad('an element has an invalid VR');
      if (LONG_VRS.has(elementVr)) {
        if (p + 12 > bound) throw bad('a sequence is not closed');
        headerLength = 12;
        length = u32(b, p + 8, top.le);
      } else {
        length = u16(b, p + 6, top.le);
      }
    } else {
      length = u32(b, p + 4, top.le);
    }
    if (length === UNDEFINED) {
      if (stack.length >= MAX_FRAMES) throw bad('sequences nested too deeply');
      const inner = undefinedKind(t, elementVr, {
        explicitVr: top.explicitVr,
        littleEndian: top.le,
      });
      stack.push({ ...inner, end: -1 });
      p += headerLength;
      continue;
    }
    if (length % 2 !== 0) throw bad('an odd value length');
    if (p + headerLength + length > bound) throw bad('an element overruns its item');
    p += headerLength + length;
  }
}

/**
 * The items of a sequence value: [valueStart, valueEnd) for a defined length, or up to its
 * delimiter (valueEnd null). Each item's body range; `end` is after the item (and its delimiter).
 */
export function walkItems(
  bytes: Buffer,
  enc: ByteEncoding,
  valueStart: number,
  valueEnd: number | null,
): { start: number; bodyStart: number; bodyEnd: number; end: number; defined: boolean }[] {
  const le = enc.littleEndian;
  const limit = valueEnd ?? bytes.length;
  const items = [];
  let p = valueStart;
  for (;;) {
    if (valueEnd !== null && p === valueEnd) return items;
    if (p + 8 > limit) throw bad('a sequence is not closed');
    const t = tagAt(bytes, p, le);
    const length = u32(bytes, p + 4, le);
    if (t === SEQUENCE_DELIMITER && valueEnd === null) return items;
    if (t !== ITEM) throw bad('a data element where an item belongs');
    if (length === UNDEFINED) {
      const body = walkElements(bytes, enc, p + 8, limit, true);
      items.push({
        start: p,
        bodyStart: p + 8,
        bodyEnd: body.next - 8,
        end: body.next,
        defined: false,
      });
      p = body.next;
    } else {
      if (p + 8 + length > limit) throw bad('an item overruns its sequence');
      items.push({
        start: p,
        bodyStart: p + 8,
        bodyEnd: p + 8 + length,
        end: p + 8 + length,
        defined: true,
      });
      p += 8 + length;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Pads a value to an even length: UI (and binary) with NUL, text with a space (PS3.5 6.2). */
export function padded(value: Buffer, vr: string): Buffer {
  if (value.length % 2 === 0) return value;
  const pad = vr === 'UI' || vr === 'OB' || vr === 'UN' ? 0x00 : 0x20;
  return Buffer.concat([value, Buffer.from([pad])]);
}

function put16(b: Buffer, v: number, at: number, le: boolean): void {
  if (le) b.writeUInt16LE(v, at);
  else b.writeUInt16BE(v, at);
}

function put32(b: Buffer, v: number, at: number, le: boolean): void {
  if (le) b.writeUInt32LE(v >>> 0, at);
  else b.writeUInt32BE(v >>> 0, at);
}

/** An element header with a defined length (or 0xFFFFFFFF for an undefined-length sequence). */
export function elementHeader(tag: number, vr: string, length: number, enc: ByteEncoding): Buffer {
  const le = enc.littleEndian;
  const long = enc.explicitVr && LONG_VRS.has(vr);
  if (enc.explicitVr && !long && length > 0xffff) {
    throw new SpliceError(`a ${vr} value cannot be longer than 65534 bytes`);
  }
  const h = Buffer.alloc(long ? 12 : 8);
  put16(h, tag >>> 16, 0, le);
  put16(h, tag & 0xffff, 2, le);
  if (!enc.explicitVr) {
    put32(h, length, 4, le);
  } else {
    h.write(vr, 4, 'latin1');
    if (long) put32(h, length, 8, le);
    else put16(h, length, 6, le);
  }
  return h;
}

/** An element with its value (padded to even length here). */
export function encodeElement(tag: number, vr: string, value: Buffer, enc: ByteEncoding): Buffer {
  const v = padded(value, vr);
  return Buffer.concat([elementHeader(tag, vr, v.length, enc), v]);
}

/** An item of defined length holding `body` (encoded elements). */
export function encodeItem(body: Buffer, enc: ByteEncoding): Buffer {
  const h = Buffer.alloc(8);
  put16(h, 0xfffe, 0, enc.littleEndian);
  put16(h, 0xe000, 2, enc.littleEndian);
  put32(h, body.length, 4, enc.littleEndian);
  return Buffer.concat([h, body]);
}

/** A sequence of defined length holding encoded items. */
export function encodeSequence(tag: number, items: Buffer[], enc: ByteEncoding): Buffer {
  const value = Buffer.concat(items);
  return Buffer.concat([elementHeader(tag, 'SQ', value.length, enc), value]);
}

/** AT values: group then element, each in the data set's byte order. */
export function encodeTags(tags: readonly number[], enc: ByteEncoding): Buffer {
  const b = Buffer.alloc(4 * tags.length);
  tags.forEach((t, i) => {
    put16(b, t >>> 16, 4 * i, enc.littleEndian);
    put16(b, t & 0xffff, 4 * i + 2, enc.littleEndian);
  });
  return b;
}

export function decodeTags(value: Buffer, enc: ByteEncoding): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= value.length; i += 4) out.push(tagAt(value, i, enc.littleEndian));
  return out;
}

/** Rewrites the 32-bit length of a defined-length sequence element header. */
export function withLength(header: Buffer, length: number, enc: ByteEncoding): Buffer {
  const h = Buffer.from(header);
  put32(h, length, enc.explicitVr ? 8 : 4, enc.littleEndian);
  return h;
}
