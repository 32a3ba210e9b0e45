import dcmjs from 'dcmjs';
import { DicomFormatError } from './errors.js';
import { MAX_SEQUENCE_DEPTH } from './header-capture.js';
import { LONG_VRS } from './uids.js';

/**
 * Decodes a data set header straight to the DICOM JSON model (PS3.18 F.2). This is the ingest hot
 * path: dcmjs's reader took ≈ 0.7–1 ms for a 1 KB CT header (objects per element, accessors,
 * a Part 10 wrapper), this takes a few hundredths of a millisecond. dcmjs still provides the data
 * dictionary, which implicit VR data sets need to know their VRs.
 *
 * Input is expected to have passed `scanDataset` (structure and nesting checked), but every
 * length is still checked here: a bad one ends in DicomFormatError, never in an out-of-range read.
 */

export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

export type DicomJsonDataset = Record<string, DicomJsonElement>;

export const MAX_INLINE_BINARY_BYTES = 1024;

export interface DecodeContext {
  explicitVr: boolean;
  littleEndian: boolean;
  /** Decodes the bytes of SH, LO, UC, ST, LT, UT and PN values (the Specific Character Set). */
  decodeText: (bytes: Buffer) => string;
  /** Strip ISO 2022 escape sequences left in decoded text. */
  stripEscapes: boolean;
}

const UNDEFINED_LENGTH = 0xffffffff;
const BINARY_VRS: ReadonlySet<string> = new Set('OB OD OF OL OV OW UN'.split(' '));
const CHARSET_VRS: ReadonlySet<string> = new Set('SH LO UC ST LT UT PN'.split(' '));
/** Single-valued text: a backslash is text, not a value separator (PS3.5 6.2). */
const SINGLE_VALUE_VRS: ReadonlySet<string> = new Set('ST LT UT UR'.split(' '));
/** Leading spaces are significant only in these (and in the single-valued texts above). */
const KEEP_LEADING_SPACE_VRS: ReadonlySet<string> = new Set('ST LT UT UR PN'.split(' '));
const WORD_SIZE: Record<string, number> = { OW: 2, OF: 4, OL: 4, OD: 8, OV: 8 };
const VALID_VR = /^[A-Z]{2}$/;

/** Binary-encoded numbers: value size and reader, per VR. */
const BINARY_NUMBERS: Record<
  string,
  { size: number; read: (b: Buffer, at: number, le: boolean) => unknown }
> = {
  US: { size: 2, read: (b, at, le) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at)) },
  SS: { size: 2, read: (b, at, le) => (le ? b.readInt16LE(at) : b.readInt16BE(at)) },
  UL: { size: 4, read: (b, at, le) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at)) },
  SL: { size: 4, read: (b, at, le) => (le ? b.readInt32LE(at) : b.readInt32BE(at)) },
  FL: { size: 4, read: (b, at, le) => finite(le ? b.readFloatLE(at) : b.readFloatBE(at)) },
  FD: { size: 8, read: (b, at, le) => finite(le ? b.readDoubleLE(at) : b.readDoubleBE(at)) },
  SV: { size: 8, read: (b, at, le) => big(le ? b.readBigInt64LE(at) : b.readBigInt64BE(at)) },
  UV: { size: 8, read: (b, at, le) => big(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) },
  // AT: group then element, each in the data set's byte order.
  AT: {
    size: 4,
    read: (b, at, le) =>
      tagKey(
        ((le ? b.readUInt16LE(at) : b.readUInt16BE(at)) * 0x10000 +
          (le ? b.readUInt16LE(at + 2) : b.readUInt16BE(at + 2))) >>>
          0,
      ),
  },
};

// eslint-disable-next-line no-control-regex -- matching the ESC control character is the point
const ISO2022_ESCAPE = /\x1b[\x20-\x2f]*[\x30-\x7e]/g;

const vrCache = new Map<number, string>();

/** The dictionary VR of a tag (implicit VR data sets do not carry one); 'UN' when unknown. */
export function dictionaryVr(tag: number): string {
  const cached = vrCache.get(tag);
  if (cached !== undefined) return cached;
  let vr: string;
  if ((tag & 0xffff) === 0) {
    vr = 'UL'; // group length
  } else if ((tag >>> 16) % 2 === 1) {
    vr = 'UN'; // private: the creator says what it means, the dictionary cannot
  } else {
    const hex = tag.toString(16).toUpperCase().padStart(8, '0');
    const entry = dcmjs.data.DicomMetaDictionary.dictionary[`(${hex.slice(0, 4)},${hex.slice(4)})`];
    const raw = entry?.vr;
    if (raw === 'ox') vr = 'OW';
    else if (raw === 'xs') vr = 'US';
    else vr = raw && VALID_VR.test(raw) ? raw : 'UN';
  }
  if (vrCache.size < 100_000) vrCache.set(tag, vr);
  return vr;
}

function malformed(what: string): DicomFormatError {
  return new DicomFormatError('malformed', `malformed data set: ${what}`);
}

function tagKey(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

/** (gggg,0010-00FF) with gggg odd: the private creator, which names what the block means. */
function isPrivateCreator(tag: number): boolean {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  return group % 2 === 1 && group > 0x0008 && element >= 0x0010 && element <= 0x00ff;
}

interface Reader {
  bytes: Buffer;
  le: boolean;
  explicitVr: boolean;
}

function u16(r: Reader, at: number): number {
  return r.le ? r.bytes.readUInt16LE(at) : r.bytes.readUInt16BE(at);
}

function u32(r: Reader, at: number): number {
  return r.le ? r.bytes.readUInt32LE(at) : r.bytes.readUInt32BE(at);
}

/** Decodes the elements in [start, end) of `bytes` (a whole header: end = bytes.length). */
export function decodeDataset(bytes: Buffer, context: DecodeContext): DicomJsonDataset {
  const reader: Reader = { bytes, le: context.littleEndian, explicitVr: context.explicitVr };
  const { dataset } = decodeElements(reader, 0, bytes.length, false, context, 0);
  return dataset;
}

/**
 * Elements from `start` up to `end`, or up to an item delimiter when `delimited`. Returns the
 * dataset and the offset after the last thing read (after the delimiter, if any).
 */
function decodeElements(
  r: Reader,
  start: number,
  end: number,
  delimited: boolean,
  context: DecodeContext,
  depth: number,
): { dataset: DicomJsonDataset; next: number } {
  const out: DicomJsonDataset = {};
  let p = start;
  while (p < end) {
    if (p + 8 > end) throw malformed('an element header overruns its container');
    const group = u16(r, p);
    const element = u16(r, p + 2);
    if (group === 0xfffe) {
      if (element === 0xe00d && delimited) return { dataset: sortKeys(out), next: p + 8 };
      throw malformed('an item tag where a data element belongs');
    }
    const tag = (group * 0x10000 + element) >>> 0;
    let vr: string;
    let headerLength = 8;
    let length: number;
    if (r.explicitVr) {
      vr = r.bytes.toString('latin1', p + 4, p + 6);
      if (!VALID_VR.test(vr)) throw malformed('an element has an invalid VR');
      if (LONG_VRS.has(vr)) {
        if (p + 12 > end) throw malformed('an element header overruns its container');
        headerLength = 12;
        length = u32(r, p + 8);
      } else {
        length = u16(r, p + 6);
      }
    } else {
      vr = dictionaryVr(tag);
      length = u32(r, p + 4);
    }
    const valueStart = p + headerLength;
    if (length === UNDEFINED_LENGTH) {
      const undefinedValue = decodeUndefinedLength(r, tag, vr, valueStart, end, context, depth);
      out[tagKey(tag)] = undefinedValue.element;
      p = undefinedValue.next;
      continue;
    }
    const valueEnd = valueStart + length;
    if (valueEnd > end) throw malformed('an element overruns its container');
    const key = tagKey(tag);
    if (vr === 'SQ') {
      out[key] = decodeSequence(r, valueStart, valueEnd, false, context, depth).element;
    } else if (!r.explicitVr && vr === 'UN' && looksLikeSequence(r, valueStart, valueEnd)) {
      // Probably a private sequence; if it does not read as one, it stays opaque bytes.
      try {
        out[key] = decodeSequence(r, valueStart, valueEnd, false, context, depth).element;
      } catch {
        out[key] = decodeBinary(r, vr, valueStart, valueEnd);
      }
    } else if (vr === 'UN' && isPrivateCreator(tag)) {
      // Implicit VR leaves private creators without a VR; they are LO text by definition.
      const text = r.bytes
        .toString('latin1', valueStart, valueEnd)
        .replace(/[\0 ]+$/, '')
        .trim();
      out[key] = text ? { vr: 'LO', Value: [text] } : { vr: 'LO' };
    } else {
      out[key] = decodeValue(r, vr, valueStart, valueEnd, context);
    }
    p = valueEnd;
  }
  if (delimited) throw malformed('an item of undefined length is not closed');
  return { dataset: sortKeys(out), next: p };
}

/** An implicit VR element of unknown VR whose value starts with an item tag is a sequence. */
function looksLikeSequence(r: Reader, start: number, end: number): boolean {
  return end - start >= 8 && u16(r, start) === 0xfffe && u16(r, start + 2) === 0xe000;
}

function sortKeys(dataset: DicomJsonDataset): DicomJsonDataset {
  const keys = Object.keys(dataset);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  if (sorted) return dataset;
  const out: DicomJsonDataset = {};
  for (const k of keys.sort()) out[k] = dataset[k]!;
  return out;
}

function decodeUndefinedLength(
  r: Reader,
  tag: number,
  vr: string,
  valueStart: number,
  end: number,
  context: DecodeContext,
  depth: number,
): { element: DicomJsonElement; next: number } {
  if (tag === 0x7fe00010 || (r.explicitVr && (vr === 'OB' || vr === 'OW'))) {
    // Encapsulated pixel data (an icon image): its fragments are bulk data.
    return { element: { vr: 'OB', BulkDataURI: '' }, next: skipFragments(r, valueStart, end) };
  }
  if (r.explicitVr && vr === 'UN') {
    // A UN sequence of undefined length is encoded in implicit VR little endian (PS3.5 6.2.2).
    const implicit: Reader = { bytes: r.bytes, le: true, explicitVr: false };
    return decodeSequence(implicit, valueStart, end, true, context, depth);
  }
  if (r.explicitVr && vr !== 'SQ')
    throw malformed('an undefined length on a VR that cannot have one');
  return decodeSequence(r, valueStart, end, true, context, depth);
}

function skipFragments(r: Reader, start: number, end: number): number {
  let p = start;
  while (p + 8 <= end) {
    const group = u16(r, p);
    const element = u16(r, p + 2);
    const length = u32(r, p + 4);
    if (group !== 0xfffe) throw malformed('a data element among pixel data fragments');
    if (element === 0xe0dd) return p + 8;
    if (element !== 0xe000 || length === UNDEFINED_LENGTH) throw malformed('a bad fragment');
    p += 8 + length;
  }
  throw malformed('encapsulated pixel data is not closed');
}

function decodeSequence(
  r: Reader,
  start: number,
  end: number,
  delimited: boolean,
  context: DecodeContext,
  depth: number,
): { element: DicomJsonElement; next: number } {
  if (depth >= MAX_SEQUENCE_DEPTH) {
    throw malformed(`sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels`);
  }
  const items: DicomJsonDataset[] = [];
  let p = start;
  for (;;) {
    if (!delimited && p >= end) break;
    if (p + 8 > end) throw malformed('a sequence is not closed');
    const group = u16(r, p);
    const element = u16(r, p + 2);
    const length = u32(r, p + 4);
    if (group !== 0xfffe) throw malformed('a data element where an item belongs');
    if (element === 0xe0dd && delimited) {
      p += 8;
      break;
    }
    if (element !== 0xe000) throw malformed('an item delimiter out of place');
    if (length === UNDEFINED_LENGTH) {
      const item = decodeElements(r, p + 8, end, true, context, depth + 1);
      items.push(item.dataset);
      p = item.next;
    } else {
      const itemEnd = p + 8 + length;
      if (itemEnd > end) throw malformed('an item overruns its sequence');
      items.push(decodeElements(r, p + 8, itemEnd, false, context, depth + 1).dataset);
      p = itemEnd;
    }
  }
  return { element: items.length ? { vr: 'SQ', Value: items } : { vr: 'SQ' }, next: p };
}

function decodeValue(
  r: Reader,
  vr: string,
  start: number,
  end: number,
  context: DecodeContext,
): DicomJsonElement {
  if (end === start) return { vr };
  if (BINARY_VRS.has(vr)) return decodeBinary(r, vr, start, end);
  const binary = BINARY_NUMBERS[vr];
  const values = binary
    ? numbers(start, end, binary.size, (at) => binary.read(r.bytes, at, r.le))
    : decodeStrings(r, vr, start, end, context);
  // PS3.18 F.2.5: an empty value is null, and an element without values has no Value at all.
  return values.every((v) => v === null) ? { vr } : { vr, Value: values };
}

/** Whole values only: a trailing partial value (a malformed length) is ignored, not invented. */
function numbers(
  start: number,
  end: number,
  size: number,
  read: (at: number) => unknown,
): unknown[] {
  const out: unknown[] = [];
  for (let at = start; at + size <= end; at += size) out.push(read(at));
  return out;
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** SV/UV beyond 2^53 become strings, as PS3.18 F.2.3 allows. */
function big(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : n.toString();
}

function decodeStrings(
  r: Reader,
  vr: string,
  start: number,
  end: number,
  context: DecodeContext,
): unknown[] {
  const raw = r.bytes.subarray(start, end);
  let text = CHARSET_VRS.has(vr) ? context.decodeText(raw) : raw.toString('latin1');
  if (context.stripEscapes && CHARSET_VRS.has(vr)) text = text.replace(ISO2022_ESCAPE, '');
  const parts = SINGLE_VALUE_VRS.has(vr) ? [text] : text.split('\\');
  const keepLeading = KEEP_LEADING_SPACE_VRS.has(vr);
  return parts.map((part) => {
    let s = part.replace(/[\0 ]+$/, '');
    if (!keepLeading) s = s.replace(/^ +/, '');
    if (s === '') return null;
    if (vr === 'DS' || vr === 'IS') {
      const n = Number(s.trim());
      return Number.isFinite(n) ? n : null;
    }
    if (vr === 'PN') return personName(s);
    return s;
  });
}

/** 'Alphabetic=Ideographic=Phonetic' to the PS3.18 F.2.2 object. */
function personName(s: string): Record<string, string> | null {
  const groups = s.split('=');
  const out: Record<string, string> = {};
  const names = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;
  for (let i = 0; i < names.length && i < groups.length; i++) {
    const g = groups[i]!.replace(/[\0 ]+$/, '');
    if (g !== '') out[names[i]!] = g;
  }
  return Object.keys(out).length ? out : null;
}

function decodeBinary(r: Reader, vr: string, start: number, end: number): DicomJsonElement {
  const length = end - start;
  if (length > MAX_INLINE_BINARY_BYTES) return { vr, BulkDataURI: '' };
  const bytes = Buffer.from(r.bytes.subarray(start, end));
  const word = WORD_SIZE[vr];
  // InlineBinary is little endian.
  if (!r.le && word && bytes.length % word === 0) {
    if (word === 2) bytes.swap16();
    else if (word === 4) bytes.swap32();
    else bytes.swap64();
  }
  return { vr, InlineBinary: bytes.toString('base64') };
}
