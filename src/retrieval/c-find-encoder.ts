import zlib from 'node:zlib';
import { type DicomJsonDataset, type DicomJsonElement } from '../catalog/index.js';
import { datasetEncoding, LONG_VRS } from '../dicom/index.js';
import {
  QUERY_RETRIEVE_LEVEL,
  RETRIEVE_AE_TITLE,
  type ResponseKey,
  SPECIFIC_CHARACTER_SET,
} from './c-find-identifier.js';

/**
 * The response side of the C-FIND SCP: one identifier per match, in the presentation context's
 * transfer syntax (implicit or explicit VR, little or big endian, deflated), holding the keys the
 * request asked for plus Query/Retrieve Level, Retrieve AE Title and, when a value needs it,
 * Specific Character Set (PS3.4 C.4.1.1.3.2). Everything that is the same for every match (the
 * element order, the two fixed elements, each key's element header) is prepared once per query;
 * a match costs its values' bytes and one output buffer.
 */

/** Values whose text goes through the Specific Character Set (PS3.5 6.1.2.3). */
const CHARSET_VRS: ReadonlySet<string> = new Set('SH LO UC ST LT UT PN'.split(' '));
const TEXT_VRS: ReadonlySet<string> = new Set(
  'AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT'.split(' '),
);
/** Single-valued texts: a backslash is a character there, not a separator. */
const SINGLE_VALUE_VRS: ReadonlySet<string> = new Set('LT ST UT UR'.split(' '));
const WORD_SIZE: Record<string, number> = { OW: 2, OF: 4, OL: 4, OD: 8, OV: 8 };

// eslint-disable-next-line no-control-regex -- any character outside 7-bit ASCII
const NON_ASCII = /[^\x00-\x7f]/;
// eslint-disable-next-line no-control-regex -- any character outside ISO 8859-1
const NON_LATIN1 = /[^\x00-\xff]/;

export interface FindResponseEncoderOptions {
  transferSyntaxUid: string;
  /** Query/Retrieve Level (0008,0052) as the request gave it. */
  levelName: string;
  /** Retrieve AE Title (0008,0054): ours. */
  retrieveAeTitle: string;
  /** The keys every response holds, with their VRs (see FindQuery.responseKeys). */
  keys: readonly ResponseKey[];
  /** The request's (0008,0005), '\\'-joined; null when it had none. */
  requestCharset: string | null;
}

type Slot =
  | { kind: 'fixed'; tag: string; bytes: Buffer }
  | { kind: 'charset'; tag: string; header: Buffer; longLength: boolean }
  | {
      kind: 'key';
      tag: string;
      vr: string;
      header: Buffer;
      longLength: boolean;
      /** A text VR (else binary). */
      text: boolean;
      /** Text written in the match's Specific Character Set. */
      charsetVr: boolean;
    };

/**
 * The character sets a response may use: the request's UTF-8 or Latin-1 when it declared one of
 * them (answered in kind as long as the values fit), else the default repertoire, and UTF-8
 * (ISO_IR 192) for any match with a value outside it.
 */
type CharsetPolicy = 'utf8' | 'latin1' | 'ascii';

export class FindResponseEncoder {
  private readonly explicitVr: boolean;
  private readonly littleEndian: boolean;
  private readonly deflated: boolean;
  private readonly slots: Slot[];
  private readonly policy: CharsetPolicy;
  /** Give (0008,0005) even when the default repertoire will do: the request had the key. */
  private readonly charsetAsked: boolean;

  /** Throws DicomFormatError for a transfer syntax Strata cannot write. */
  constructor(options: FindResponseEncoderOptions) {
    const encoding = datasetEncoding(options.transferSyntaxUid);
    this.explicitVr = encoding.explicitVr;
    this.littleEndian = encoding.littleEndian;
    this.deflated = encoding.deflated;
    const terms = (options.requestCharset ?? '').split('\\').map((t) => t.trim());
    this.policy = terms.includes('ISO_IR 192')
      ? 'utf8'
      : terms.length === 1 && terms[0] === 'ISO_IR 100'
        ? 'latin1'
        : 'ascii';
    this.charsetAsked = options.requestCharset !== null;
    const slots: Slot[] = [
      {
        kind: 'fixed',
        tag: QUERY_RETRIEVE_LEVEL,
        bytes: this.fixed(QUERY_RETRIEVE_LEVEL, 'CS', options.levelName),
      },
      {
        kind: 'fixed',
        tag: RETRIEVE_AE_TITLE,
        bytes: this.fixed(RETRIEVE_AE_TITLE, 'AE', options.retrieveAeTitle),
      },
      {
        kind: 'charset',
        tag: SPECIFIC_CHARACTER_SET,
        header: this.header(SPECIFIC_CHARACTER_SET, 'CS'),
        longLength: !this.explicitVr,
      },
    ];
    for (const { tag, vr } of options.keys) {
      if (
        tag === QUERY_RETRIEVE_LEVEL ||
        tag === RETRIEVE_AE_TITLE ||
        tag === SPECIFIC_CHARACTER_SET
      ) {
        continue;
      }
      const longLength = !this.explicitVr || LONG_VRS.has(vr);
      slots.push({
        kind: 'key',
        tag,
        vr,
        header: this.header(tag, vr),
        longLength,
        text: TEXT_VRS.has(vr),
        charsetVr: CHARSET_VRS.has(vr),
      });
    }
    this.slots = slots.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  }

  /** The identifier of one match (attributes by tag, as the catalog renders them). */
  encode(match: DicomJsonDataset): Buffer {
    const slots = this.slots;
    const values: Array<string | Buffer | null> = new Array(slots.length);
    let widest: 0 | 1 | 2 = 0; // ASCII, Latin-1, beyond
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      if (slot.kind !== 'key') continue;
      if (!slot.text) {
        values[i] = this.binary(slot.vr, match[slot.tag]);
        continue;
      }
      const text = textOf(slot.vr, match[slot.tag]);
      values[i] = text;
      if (slot.charsetVr && widest < 2 && NON_ASCII.test(text)) {
        widest = NON_LATIN1.test(text) ? 2 : 1;
      }
    }
    const charset = this.charsetFor(widest);
    const textEncoding: BufferEncoding = charset === 'ISO_IR 192' ? 'utf8' : 'latin1';

    // Value lengths (even) and the total, then one buffer written front to back.
    const lengths = new Array<number>(slots.length);
    let total = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      if (slot.kind === 'fixed') {
        total += slot.bytes.length;
        continue;
      }
      if (slot.kind === 'charset') {
        if (charset === null) continue;
        values[i] = charset;
      }
      const value = values[i]!;
      const encoding = slot.kind === 'key' && slot.charsetVr ? textEncoding : 'latin1';
      let length =
        typeof value === 'string' && encoding === 'utf8'
          ? Buffer.byteLength(value, encoding)
          : value.length; // Latin-1: a byte a character
      length += length % 2;
      // A short-length VR cannot say more than 64 KiB: such a value is sent as unknown.
      if (!slot.longLength && length > 0xfffe) {
        values[i] = EMPTY;
        length = 0;
      }
      lengths[i] = length;
      total += slot.header.length + (slot.longLength ? 4 : 2) + length;
    }

    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      // Short values: set() and a byte loop are cheaper than a call into Buffer's native code.
      if (slot.kind === 'fixed') {
        out.set(slot.bytes, at);
        at += slot.bytes.length;
        continue;
      }
      if (slot.kind === 'charset' && charset === null) continue;
      const value = values[i]!;
      const length = lengths[i]!;
      out.set(slot.header, at);
      at += slot.header.length;
      at = slot.longLength ? this.u32(out, length, at) : this.u16(out, length, at);
      const end = at + length;
      if (typeof value === 'string') {
        const encoding = slot.kind === 'key' && slot.charsetVr ? textEncoding : 'latin1';
        if (encoding === 'utf8') at += out.write(value, at, encoding);
        else for (let c = 0; c < value.length; c++) out[at++] = value.charCodeAt(c);
        // Padding: NUL for UI, space for the other texts (PS3.5 6.2).
        if (at < end) out[at++] = slot.kind === 'key' && slot.vr === 'UI' ? 0x00 : 0x20;
      } else {
        at += value.copy(out, at);
        if (at < end) out[at++] = 0x00;
      }
    }
    return this.deflated ? deflated(out) : out;
  }

  /** The Specific Character Set value of a match, null to leave the element out. */
  private charsetFor(widest: 0 | 1 | 2): string | null {
    if (this.policy === 'utf8' || widest === 2) return 'ISO_IR 192';
    if (this.policy === 'latin1') return 'ISO_IR 100';
    if (widest === 1) return 'ISO_IR 192';
    return this.charsetAsked ? '' : null;
  }

  /** A whole element whose value never changes (Query/Retrieve Level, Retrieve AE Title). */
  private fixed(tag: string, vr: string, text: string): Buffer {
    const value = padded(text, vr, 'latin1');
    const header = this.header(tag, vr);
    const out = Buffer.alloc(header.length + (this.explicitVr ? 2 : 4) + value.length);
    let at = header.copy(out, 0);
    at = this.explicitVr ? this.u16(out, value.length, at) : this.u32(out, value.length, at);
    value.copy(out, at);
    return out;
  }

  /** Tag, and in explicit VR the VR (and the reserved bytes of a long VR); the length follows. */
  private header(tag: string, vr: string): Buffer {
    const group = parseInt(tag.slice(0, 4), 16);
    const element = parseInt(tag.slice(4), 16);
    const long = LONG_VRS.has(vr);
    const out = Buffer.alloc(this.explicitVr ? (long ? 8 : 6) : 4);
    if (this.littleEndian) {
      out.writeUInt16LE(group, 0);
      out.writeUInt16LE(element, 2);
    } else {
      out.writeUInt16BE(group, 0);
      out.writeUInt16BE(element, 2);
    }
    if (this.explicitVr) out.write(vr, 4, 'latin1');
    return out;
  }

  private u16(out: Buffer, n: number, at: number): number {
    return this.littleEndian ? out.writeUInt16LE(n, at) : out.writeUInt16BE(n, at);
  }

  private u32(out: Buffer, n: number, at: number): number {
    return this.littleEndian ? out.writeUInt32LE(n, at) : out.writeUInt32BE(n, at);
  }

  /** Binary values: numbers, attribute tags, inline binary. Anything else is sent empty. */
  private binary(vr: string, element: DicomJsonElement | undefined): Buffer {
    if (!element) return EMPTY;
    const le = this.littleEndian;
    if (element.InlineBinary !== undefined) {
      const bytes = Buffer.from(element.InlineBinary, 'base64');
      const word = WORD_SIZE[vr];
      // InlineBinary is little endian.
      if (!le && word && bytes.length % word === 0) {
        if (word === 2) bytes.swap16();
        else if (word === 4) bytes.swap32();
        else bytes.swap64();
      }
      return bytes; // an odd length is padded with a NUL by encode()
    }
    const values = (element.Value ?? []).filter((v) => v !== null && v !== undefined);
    const writer = NUMBER_WRITERS[vr];
    if (!writer || values.length === 0) return EMPTY;
    const [size, write] = writer;
    const out = Buffer.alloc(values.length * size);
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    try {
      values.forEach((v, i) => write(view, i * size, v, le));
    } catch {
      return EMPTY; // not a number after all (a malformed stored value): sent as unknown
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** A deflated data set of odd length ends with a NUL pad byte (PS3.5 A.5). */
function deflated(bytes: Buffer): Buffer {
  const out = zlib.deflateRawSync(bytes);
  return out.length % 2 === 0 ? out : Buffer.concat([out, Buffer.alloc(1)]);
}

/** Binary numbers: value size, and a writer in either byte order. */
const NUMBER_WRITERS: Record<
  string,
  [size: number, write: (d: DataView, at: number, v: unknown, le: boolean) => void]
> = {
  US: [2, (d, at, v, le) => d.setUint16(at, int(v) & 0xffff, le)],
  SS: [2, (d, at, v, le) => d.setInt16(at, clamp(v, 16), le)],
  UL: [4, (d, at, v, le) => d.setUint32(at, int(v) >>> 0, le)],
  SL: [4, (d, at, v, le) => d.setInt32(at, clamp(v, 32), le)],
  FL: [4, (d, at, v, le) => d.setFloat32(at, Number(v), le)],
  FD: [8, (d, at, v, le) => d.setFloat64(at, Number(v), le)],
  SV: [8, (d, at, v, le) => d.setBigInt64(at, BigInt(String(v)), le)],
  UV: [8, (d, at, v, le) => d.setBigUint64(at, BigInt(String(v)), le)],
  // AT: group then element, each in the data set's byte order; DICOM JSON gives 'GGGGEEEE'.
  AT: [
    4,
    (d, at, v, le) => {
      const tag = parseInt(String(v), 16) >>> 0;
      d.setUint16(at, tag >>> 16, le);
      d.setUint16(at + 2, tag & 0xffff, le);
    },
  ],
};

function int(v: unknown): number {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) ? n : 0;
}

function clamp(v: unknown, bits: 16 | 32): number {
  const max = 2 ** (bits - 1);
  return Math.min(max - 1, Math.max(-max, int(v)));
}

/** A text value as DICOM writes it: values joined by '\\', PN groups by '=', numbers formatted. */
export function textOf(vr: string, element: DicomJsonElement | undefined): string {
  const values = element?.Value ?? [];
  // The usual case: one string value.
  if (values.length === 1 && typeof values[0] === 'string') return values[0];
  const list = SINGLE_VALUE_VRS.has(vr) ? values.slice(0, 1) : values;
  return list
    .map((v) => {
      if (v === null || v === undefined) return '';
      if (typeof v === 'number') return vr === 'DS' ? formatDs(v) : String(v);
      if (typeof v === 'object') return vr === 'PN' ? personName(v as Record<string, unknown>) : '';
      return String(v);
    })
    .join('\\');
}

function personName(name: Record<string, unknown>): string {
  const groups = [name.Alphabetic, name.Ideographic, name.Phonetic].map((g) =>
    typeof g === 'string' ? g : '',
  );
  return groups.join('=').replace(/=+$/, '');
}

/** A DS value in at most 16 characters (PS3.5 6.2). */
export function formatDs(n: number): string {
  if (!Number.isFinite(n)) return '';
  const plain = String(n);
  if (plain.length <= 16) return plain;
  for (let precision = 15; precision > 0; precision--) {
    const text = String(Number(n.toPrecision(precision)));
    if (text.length <= 16) return text;
    // Large or tiny magnitudes: the exponent form is shorter ('1.2345e+20').
    const exponent = n.toExponential(precision - 1);
    if (exponent.length <= 16) return exponent;
  }
  return '0';
}

/** Encoded text padded to an even length: NUL for UI, space for every other text VR (PS3.5 6.2). */
export function padded(text: string, vr: string, encoding: 'latin1' | 'utf8'): Buffer {
  const length = Buffer.byteLength(text, encoding);
  const out = Buffer.allocUnsafe(length + (length % 2));
  out.write(text, 0, encoding);
  if (length % 2 === 1) out[length] = vr === 'UI' ? 0x00 : 0x20;
  return out;
}
