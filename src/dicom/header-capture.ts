import zlib from 'node:zlib';
import { DicomFormatError } from './errors.js';
import { datasetEncoding, type DatasetEncoding, LONG_VRS } from './uids.js';

/**
 * Captures the "header" of a data set (every element before Pixel Data or the first bulk element)
 * in memory while the instance's bytes stream on to encryption and storage. Only the header is
 * ever held, so instances of any size are indexed without a plaintext temp file.
 *
 * The walk is incremental and resumable: it keeps its position and a stack of open sequences and
 * items, so each byte is examined once whatever the chunk sizes are. It is iterative (no
 * recursion), bounds nesting depth, and checks every length against its container, so hostile
 * input ends in a DicomFormatError, never a stack overflow, a hang or unbounded memory.
 *
 * The header ends at the first top-level Pixel Data, Float Pixel Data or Double Float Pixel Data
 * element, or at the first other top-level element longer than 1 MiB that is not a sequence.
 * Other group 7FE0 elements (Extended Offset Table...) stay in the header, so that the metadata
 * keeps them and still shows Pixel Data. After the header, the bytes are only counted (and
 * encapsulated fragments' item headers followed) to tell a complete stream from a truncated one.
 */

export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** A top-level element with a longer value is bulk data (an encapsulated PDF, overlay data...). */
export const BULK_THRESHOLD_BYTES = 1024 * 1024;
/** Real data sets nest sequences a handful of levels deep; 64 is generous. */
export const MAX_SEQUENCE_DEPTH = 64;

/** The element that ended the header: Pixel Data or another bulk element. */
export interface CapturedBulk {
  /** 'GGGGEEEE', upper-case hex. */
  tag: string;
  /**
   * The VR from the element header. Implicit VR data sets carry none: then it comes from a short
   * table of bulk elements, else 'UN' (parseHeaderSync refines it from the dictionary).
   */
  vr: string;
  /** Byte offset of the element's header within the data set (the inflated one, if deflated). */
  offset: number;
  /** Length of the element header (8 or 12 bytes). */
  headerLength: number;
  /** The value length, or null for undefined length (encapsulated pixel data). */
  valueLength: number | null;
}

export interface CapturedHeader {
  /** The data set bytes before the bulk element (inflated, for a deflated transfer syntax). */
  headerBytes: Buffer;
  bulk?: CapturedBulk;
  /** Every data set byte pushed, as received (still deflated, for a deflated syntax). */
  totalBytes: number;
}

export interface HeaderCaptureOptions {
  maxHeaderBytes?: number;
}

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xe000;
const ITEM_DELIMITATION = 0xe00d;
const SEQUENCE_DELIMITATION = 0xe0dd;
/** An explicit VR element header is at most 12 bytes. */
const MAX_ELEMENT_HEADER = 12;

const VALID_VRS: ReadonlySet<string> = new Set(
  (
    'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN ' +
    'UR US UT UV'
  ).split(' '),
);

/** Pixel Data, Float Pixel Data, Double Float Pixel Data: the header ends at these. */
function isPixelDataTag(tag: number): boolean {
  return tag === 0x7fe00010 || tag === 0x7fe00008 || tag === 0x7fe00009;
}

/**
 * The VR of bulk-sized elements in implicit VR data sets, where the stream does not say. Only
 * the usual suspects; anything else is reported as 'UN' and refined later from the dictionary.
 */
function implicitBulkVr(tag: number, undefinedLength: boolean): string {
  if (tag === 0x7fe00010) return undefinedLength ? 'OB' : 'OW';
  if (tag === 0x7fe00008) return 'OF';
  if (tag === 0x7fe00009) return 'OD';
  if (tag === 0x00420011 || tag === 0x00282000) return 'OB'; // Encapsulated Document, ICC Profile
  if (tag >= 0x00281201 && tag <= 0x00281203) return 'OW'; // Palette Color LUT Data
  if (tag >= 0x00281221 && tag <= 0x00281223) return 'OW'; // Segmented Palette Color LUT Data
  if ((tag & 0xffe1ffff) >>> 0 === 0x60003000) return 'OW'; // Overlay Data, groups 6000-601E
  return 'UN';
}

export function tagString(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

function malformed(what: string): DicomFormatError {
  return new DicomFormatError('malformed', `malformed data set: ${what}`);
}

interface Frame {
  /** A sequence holds items; 'fragments' is encapsulated pixel data; an item holds elements. */
  kind: 'sequence' | 'fragments' | 'item';
  /** Absolute end offset, or -1 for undefined length (closed by a delimiter). */
  end: number;
  /** The nearest defined end of this frame or an enclosing one: nothing may cross it. */
  limit: number;
  explicitVr: boolean;
  littleEndian: boolean;
}

/** A top-level element where the header stops. */
interface WalkStop {
  tag: number;
  vr: string;
  offset: number;
  headerLength: number;
  valueLength: number | null;
}

/**
 * The resumable structural walker. `advance(bytes, length)` examines the bytes it has not seen
 * yet; `bytes` must keep the data set from offset 0 (the caller appends, never discards).
 */
export class DatasetWalker {
  /** Offset of the next element, item or delimiter to read. */
  pos = 0;
  /** Where the top-level Specific Character Set value sits, once it was walked over. */
  specificCharacterSet: { offset: number; length: number } | null = null;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly explicitVr: boolean,
    private readonly littleEndian: boolean,
  ) {}

  /** True when the walk is between two top-level elements. */
  get atTopLevel(): boolean {
    return this.stack.length === 0;
  }

  /**
   * Walks as far as `length` bytes allow. Returns the top-level element where the header stops,
   * or null when it needs more bytes (the walk resumes from the same place on the next call).
   */
  advance(bytes: Buffer, length: number): WalkStop | null {
    for (;;) {
      let top = this.stack.at(-1);
      // Leave every defined-length sequence or item whose end was reached.
      while (top && top.end >= 0 && this.pos >= top.end) {
        this.stack.pop();
        top = this.stack.at(-1);
      }
      const p = this.pos;
      if (top && p + 8 > top.limit) throw malformed('an element overruns its sequence item');
      if (length < p + 8) return null;
      const le = top ? top.littleEndian : this.littleEndian;
      const explicitVr = top ? top.explicitVr : this.explicitVr;
      const group = le ? bytes.readUInt16LE(p) : bytes.readUInt16BE(p);
      const element = le ? bytes.readUInt16LE(p + 2) : bytes.readUInt16BE(p + 2);
      if (group === 0xfffe) {
        const itemLength = le ? bytes.readUInt32LE(p + 4) : bytes.readUInt32BE(p + 4);
        this.itemOrDelimiter(element, itemLength, top);
        continue;
      }
      if (top && top.kind !== 'item') throw malformed('a data element where an item belongs');

      let vr = '';
      let headerLength = 8;
      let valueLength: number;
      if (explicitVr) {
        vr = bytes.toString('latin1', p + 4, p + 6);
        if (!VALID_VRS.has(vr)) throw malformed('an element has an invalid VR');
        if (LONG_VRS.has(vr)) {
          if (length < p + 12) return null;
          headerLength = 12;
          valueLength = le ? bytes.readUInt32LE(p + 8) : bytes.readUInt32BE(p + 8);
        } else {
          valueLength = le ? bytes.readUInt16LE(p + 6) : bytes.readUInt16BE(p + 6);
        }
      } else {
        valueLength = le ? bytes.readUInt32LE(p + 4) : bytes.readUInt32BE(p + 4);
      }
      const tag = (group * 0x10000 + element) >>> 0;
      const undefinedLength = valueLength === UNDEFINED_LENGTH;

      if (!top) {
        const stop = (): WalkStop => ({
          tag,
          vr: explicitVr ? vr : implicitBulkVr(tag, undefinedLength),
          offset: p,
          headerLength,
          valueLength: undefinedLength ? null : valueLength,
        });
        if (isPixelDataTag(tag)) return stop();
        if (!undefinedLength && valueLength > BULK_THRESHOLD_BYTES) {
          if (explicitVr && vr !== 'SQ') return stop();
          if (!explicitVr) {
            // Implicit VR does not say whether a long value is a sequence; a sequence's value
            // starts with an item tag, bulk data (almost surely) does not.
            if (length < p + 12) return null;
            const first = le ? bytes.readUInt32LE(p + 8) : bytes.readUInt32BE(p + 8);
            if (first !== 0xe000fffe) return stop();
          }
        }
        if (tag === 0x00080005 && !undefinedLength) {
          this.specificCharacterSet = { offset: p + headerLength, length: valueLength };
        }
      }

      if (undefinedLength) {
        let frame: Pick<Frame, 'kind' | 'explicitVr' | 'littleEndian'>;
        if (!explicitVr) {
          frame = {
            kind: tag === 0x7fe00010 ? 'fragments' : 'sequence',
            explicitVr,
            littleEndian: le,
          };
        } else if (vr === 'SQ') {
          frame = { kind: 'sequence', explicitVr, littleEndian: le };
        } else if (vr === 'UN') {
          // A UN sequence of undefined length is encoded in implicit VR little endian (PS3.5 6.2.2).
          frame = { kind: 'sequence', explicitVr: false, littleEndian: true };
        } else if (vr === 'OB' || vr === 'OW') {
          frame = { kind: 'fragments', explicitVr, littleEndian: le };
        } else {
          throw malformed('an undefined length on a VR that cannot have one');
        }
        this.open({ ...frame, end: -1, limit: top ? top.limit : Infinity });
        this.pos = p + headerLength;
        continue;
      }
      if (valueLength % 2 !== 0) throw malformed('an odd value length');
      const end = p + headerLength + valueLength;
      if (top && end > top.limit) throw malformed('an element overruns its sequence item');
      if (explicitVr && vr === 'SQ') {
        // Walked into (not skipped) so that nesting depth is bounded for the parser too.
        this.open({ kind: 'sequence', end, limit: end, explicitVr, littleEndian: le });
        this.pos = p + headerLength;
        continue;
      }
      this.pos = end;
    }
  }

  private itemOrDelimiter(element: number, itemLength: number, top: Frame | undefined): void {
    const p = this.pos;
    if (element === ITEM) {
      if (!top || top.kind === 'item') throw malformed('an item outside a sequence');
      if (top.kind === 'fragments') {
        if (itemLength === UNDEFINED_LENGTH || itemLength % 2 !== 0) {
          throw malformed('a pixel data fragment with a bad length');
        }
        if (p + 8 + itemLength > top.limit) throw malformed('a fragment overruns its sequence');
        this.pos = p + 8 + itemLength;
        return;
      }
      const end = itemLength === UNDEFINED_LENGTH ? -1 : p + 8 + itemLength;
      if (end > top.limit) throw malformed('an item overruns its sequence');
      this.open({ ...top, kind: 'item', end, limit: end >= 0 ? end : top.limit });
      this.pos = p + 8;
      return;
    }
    if (element === ITEM_DELIMITATION) {
      if (!top || top.kind !== 'item' || top.end >= 0 || itemLength !== 0) {
        throw malformed('an item delimiter out of place');
      }
    } else if (element === SEQUENCE_DELIMITATION) {
      if (!top || top.kind === 'item' || top.end >= 0 || itemLength !== 0) {
        throw malformed('a sequence delimiter out of place');
      }
    } else {
      throw malformed('an unknown item tag');
    }
    this.stack.pop();
    this.pos = p + 8;
  }

  private open(frame: Frame): void {
    // Each level of nesting is a sequence frame plus an item frame.
    if (this.stack.length >= 2 * MAX_SEQUENCE_DEPTH) {
      throw malformed(`sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels`);
    }
    this.stack.push(frame);
  }
}

export interface DatasetScan {
  /** Bytes before the bulk element, or the whole buffer. */
  headerLength: number;
  bulk?: CapturedBulk;
  specificCharacterSet: { offset: number; length: number } | null;
}

/**
 * Walks a complete, in-memory data set (not deflated) and checks its structure: what
 * parseHeaderSync runs before handing bytes to dcmjs, whose parser recurses.
 */
export function scanDataset(bytes: Buffer, encoding: DatasetEncoding): DatasetScan {
  const walker = new DatasetWalker(encoding.explicitVr, encoding.littleEndian);
  const stop = walker.advance(bytes, bytes.length);
  if (!stop && !(walker.atTopLevel && walker.pos === bytes.length)) {
    throw new DicomFormatError('truncated', 'the data set ends inside an element');
  }
  return {
    headerLength: stop ? stop.offset : bytes.length,
    ...(stop ? { bulk: toBulk(stop) } : {}),
    specificCharacterSet: walker.specificCharacterSet,
  };
}

function toBulk(stop: WalkStop): CapturedBulk {
  return {
    tag: tagString(stop.tag),
    vr: stop.vr,
    offset: stop.offset,
    headerLength: stop.headerLength,
    valueLength: stop.valueLength,
  };
}

/**
 * Synchronous, resumable raw inflate. node:zlib's public synchronous API is one-shot and its
 * streams are asynchronous, while push() must see the inflated bytes before it returns; so this
 * drives the zlib handle of an InflateRaw stream directly, the way zlib's own one-shot functions
 * do (handle.writeSync + _writeState, stable since Node 10). Output is delivered in 64 KiB
 * pieces, so a decompression bomb costs time, never memory.
 */
class SyncInflater {
  private readonly stream: zlib.InflateRaw;
  private readonly handle: ZlibHandle;
  private readonly state: Uint32Array;
  private readonly out = Buffer.allocUnsafe(64 * 1024);

  constructor() {
    this.stream = zlib.createInflateRaw();
    // Errors are also thrown from write(); this keeps the stream's own 'error' event quiet.
    this.stream.on('error', () => undefined);
    const internals = this.stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (typeof internals._handle?.writeSync !== 'function' || !internals._writeState) {
      throw new DicomFormatError(
        'unsupported-transfer-syntax',
        'deflated data sets are not supported on this Node.js version',
      );
    }
    this.handle = internals._handle;
    this.state = internals._writeState;
  }

  /** Inflates `input`; returns false if `sink` asked to stop. `finish` checks the stream ended. */
  write(input: Buffer, sink: (piece: Buffer) => boolean, finish = false): boolean {
    let inOffset = 0;
    let inLength = input.length;
    const flush = finish ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH;
    for (;;) {
      this.handle.writeSync(flush, input, inOffset, inLength, this.out, 0, this.out.length);
      if (this.stream.errored || this.stream.destroyed) {
        const message = this.stream.errored?.message ?? '';
        throw message.includes('unexpected end')
          ? new DicomFormatError('truncated', 'the deflated data set ends early')
          : malformed('the deflate stream is invalid');
      }
      const availOut = this.state[0]!;
      const availIn = this.state[1]!;
      const produced = this.out.length - availOut;
      // The sink copies what it keeps, so the output buffer is reused.
      if (produced > 0 && !sink(this.out.subarray(0, produced))) return false;
      inOffset += inLength - availIn;
      inLength = availIn;
      if (availOut !== 0) return true;
    }
  }

  close(): void {
    this.stream.close();
  }
}

interface ZlibHandle {
  writeSync(
    flush: number,
    input: Buffer,
    inOffset: number,
    inLength: number,
    output: Buffer,
    outOffset: number,
    outLength: number,
  ): void;
}

/**
 * Follows encapsulated pixel data (undefined length) after the header is complete: only the
 * 8-byte item headers are read, fragment values are skipped as they stream past, so a stream
 * that ends before the sequence delimiter is reported as truncated at no memory cost.
 */
class FragmentTracker {
  complete = false;
  private readonly pending = Buffer.alloc(8);
  private have = 0;
  private skip = 0;

  constructor(private readonly littleEndian: boolean) {}

  feed(data: Buffer): void {
    let i = 0;
    while (i < data.length && !this.complete) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(8 - this.have, data.length - i);
      data.copy(this.pending, this.have, i, i + n);
      this.have += n;
      i += n;
      if (this.have < 8) return;
      this.have = 0;
      const le = this.littleEndian;
      const group = le ? this.pending.readUInt16LE(0) : this.pending.readUInt16BE(0);
      const element = le ? this.pending.readUInt16LE(2) : this.pending.readUInt16BE(2);
      const length = le ? this.pending.readUInt32LE(4) : this.pending.readUInt32BE(4);
      if (group === 0xfffe && element === ITEM && length !== UNDEFINED_LENGTH && length % 2 === 0) {
        this.skip = length;
      } else if (group === 0xfffe && element === SEQUENCE_DELIMITATION && length === 0) {
        this.complete = true;
      } else {
        throw malformed('encapsulated pixel data with a bad fragment item');
      }
    }
  }
}

/**
 * Feed it every chunk of data set bytes (no meta header) with push(), then call finish().
 * `done` turns true as soon as the header is complete; later chunks are only counted.
 */
export class HeaderCapture {
  private readonly maxHeaderBytes: number;
  private readonly walker: DatasetWalker;
  private readonly inflater: SyncInflater | null;
  /** Captured data set bytes [0, length); grows by doubling up to maxHeaderBytes + 12. */
  private bytes = Buffer.alloc(0);
  private length = 0;
  private stop: WalkStop | null = null;
  private received = 0;
  /** Data set bytes seen: equal to `received` unless deflated. */
  private decoded = 0;
  private inflating = true;
  private fragments: FragmentTracker | null = null;
  private readonly littleEndian: boolean;
  private failure: DicomFormatError | null = null;
  private finished = false;

  constructor(transferSyntaxUid: string, options: HeaderCaptureOptions = {}) {
    const encoding = datasetEncoding(transferSyntaxUid);
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.walker = new DatasetWalker(encoding.explicitVr, encoding.littleEndian);
    this.littleEndian = encoding.littleEndian;
    this.inflater = encoding.deflated ? new SyncInflater() : null;
  }

  /** True once the header is complete (a bulk element was reached). */
  get done(): boolean {
    return this.stop !== null;
  }

  /** Bytes pushed so far. */
  get totalBytes(): number {
    return this.received;
  }

  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('HeaderCapture.push() after finish()');
    this.received += chunk.length;
    this.guard(() => {
      if (!this.inflater) this.accept(chunk);
      else if (this.inflating) this.inflating = this.inflater.write(chunk, (p) => this.accept(p));
    });
  }

  /**
   * The captured header as soon as `done`, while the rest of the stream still flows: parse it
   * early, keep pushing, and call finish() at the end to detect truncation. The header bytes are
   * never touched again once done, so the returned view stays valid.
   */
  header(): CapturedHeader {
    if (this.failure) throw this.failure;
    const stop = this.stop;
    if (!stop) throw new Error('HeaderCapture.header() before the header is complete (done)');
    return {
      headerBytes: this.bytes.subarray(0, stop.offset),
      bulk: toBulk(stop),
      totalBytes: this.received,
    };
  }

  /** Ends the stream: the captured header, or `truncated` if the data set ends inside an element. */
  finish(): CapturedHeader {
    if (this.failure) throw this.failure;
    if (!this.finished) {
      this.finished = true;
      this.guard(() => {
        if (this.inflater && this.inflating) {
          this.inflater.write(Buffer.alloc(0), (p) => this.accept(p), true);
        }
        this.inflater?.close();
      });
    }
    const stop = this.stop;
    if (!stop) {
      if (!this.walker.atTopLevel || this.walker.pos !== this.length) {
        throw this.fail(new DicomFormatError('truncated', 'the data set ends inside an element'));
      }
      return { headerBytes: this.bytes.subarray(0, this.length), totalBytes: this.received };
    }
    // When inflation stopped early (bulk element fully seen), `decoded` already covers it.
    if (this.needMore(stop)) {
      throw this.fail(new DicomFormatError('truncated', 'the data set ends inside its bulk data'));
    }
    return {
      headerBytes: this.bytes.subarray(0, stop.offset),
      bulk: toBulk(stop),
      totalBytes: this.received,
    };
  }

  /** Takes data set bytes; returns false once nothing more is needed from the inflater. */
  private accept(data: Buffer): boolean {
    this.decoded += data.length;
    if (this.stop) {
      this.fragments?.feed(data);
      return this.needMore(this.stop);
    }
    const cap = this.maxHeaderBytes + MAX_ELEMENT_HEADER;
    let offset = 0;
    while (offset < data.length && !this.stop) {
      const take = Math.min(data.length - offset, cap - this.length);
      if (take === 0) throw this.tooLarge();
      this.append(data.subarray(offset, offset + take));
      offset += take;
      this.stop = this.walker.advance(this.bytes, this.length);
      if (!this.stop && this.walker.pos > this.maxHeaderBytes) throw this.tooLarge();
    }
    if (!this.stop) return true;
    if (this.stop.valueLength === null) {
      // Follow the fragments from right after the element header: what was appended past it,
      // then the rest of this piece.
      this.fragments = new FragmentTracker(this.littleEndian);
      this.fragments.feed(
        this.bytes.subarray(this.stop.offset + this.stop.headerLength, this.length),
      );
      this.fragments.feed(data.subarray(offset));
    }
    return this.needMore(this.stop);
  }

  /**
   * Whether the bulk element's value is still incomplete: then a deflated stream must keep being
   * inflated, and an end of stream is a truncation.
   */
  private needMore(stop: WalkStop): boolean {
    if (stop.valueLength === null) return !this.fragments?.complete;
    return this.decoded < this.valueEnd(stop);
  }

  private valueEnd(stop: WalkStop): number {
    return stop.offset + stop.headerLength + (stop.valueLength ?? 0);
  }

  private append(data: Buffer): void {
    const needed = this.length + data.length;
    if (needed > this.bytes.length) {
      const capacity = Math.min(
        Math.max(needed, this.bytes.length * 2, 64 * 1024),
        this.maxHeaderBytes + MAX_ELEMENT_HEADER,
      );
      const grown = Buffer.allocUnsafe(capacity);
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    data.copy(this.bytes, this.length);
    this.length = needed;
  }

  private tooLarge(): DicomFormatError {
    return new DicomFormatError(
      'header-too-large',
      `the data set header is larger than ${this.maxHeaderBytes} bytes`,
    );
  }

  private guard(action: () => void): void {
    try {
      action();
    } catch (err) {
      throw this.fail(
        err instanceof DicomFormatError ? err : malformed('the data set could not be walked'),
      );
    }
  }

  /** A failed capture stays failed: later calls rethrow the same error. */
  private fail(err: DicomFormatError): DicomFormatError {
    this.failure = err;
    this.inflater?.close();
    return err;
  }
}
