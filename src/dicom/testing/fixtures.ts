import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { writePart10Meta } from '../part10.js';
import { TransferSyntax } from '../uids.js';

/**
 * A small synthetic DICOM writer for tests and benchmarks (never for production code): it writes
 * just enough of a CT-like instance for the archive to index, in the common transfer syntaxes,
 * with pixel data of any size generated on the fly so that huge instances never sit in memory.
 */

export type FixtureTransferSyntax =
  'implicit' | 'explicit' | 'explicit-big-endian' | 'deflated' | 'jpeg-baseline';

/** An extra data element. `value` may be raw bytes (written as given) for any VR. */
export interface FixtureElement {
  /** 'GGGGEEEE' hex. */
  tag: string;
  vr: string;
  value?: string | readonly string[] | readonly number[] | Buffer;
  /** For SQ: the items, each a list of elements. */
  items?: readonly (readonly FixtureElement[])[];
  /** For SQ: write the sequence and its items with undefined length (the default) or defined. */
  undefinedLength?: boolean;
}

export interface InstanceOptions {
  transferSyntax?: FixtureTransferSyntax;
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  modality?: string;
  patientName?: string;
  patientId?: string;
  birthDate?: string;
  sex?: string;
  studyDate?: string;
  studyTime?: string;
  accession?: string;
  studyDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  rows?: number;
  columns?: number;
  frames?: number;
  /** Size of the pixel data value (of the fragments, when encapsulated); rounded up to even. */
  pixelBytes?: number;
  /** Omit Pixel Data altogether (an SR-like instance). */
  noPixelData?: boolean;
  charset?: 'ISO_IR 100' | 'ISO_IR 192' | 'ISO 2022 IR 100';
  /** Added to (or replacing, by tag) the generated elements. */
  extra?: readonly FixtureElement[];
  /** Generated elements to leave out, by tag ('GGGGEEEE'), e.g. to test a missing attribute. */
  omit?: readonly string[];
  /** The calling AE title to record in the meta header. */
  sourceAet?: string;
}

export interface GeneratedInstanceInfo {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
  /** Length of the meta header (preamble, "DICM", group 0002). */
  metaLength: number;
  /** Offset of the Pixel Data element within the (inflated) data set, null without one. */
  pixelDataOffset: number | null;
  /** Size of the whole Part 10 file. */
  size: number;
}

export interface GeneratedInstance extends GeneratedInstanceInfo {
  part10: Buffer;
  /** The data set after the meta header, as stored (deflated, for 'deflated'). */
  dataset: Buffer;
}

/** A new UID under 2.25 (PS3.5 B.2): the decimal value of a random UUID. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

const TRANSFER_SYNTAX_UIDS: Record<FixtureTransferSyntax, string> = {
  implicit: TransferSyntax.ImplicitVRLittleEndian,
  explicit: TransferSyntax.ExplicitVRLittleEndian,
  'explicit-big-endian': TransferSyntax.ExplicitVRBigEndian,
  deflated: TransferSyntax.DeflatedExplicitVRLittleEndian,
  'jpeg-baseline': TransferSyntax.JPEGBaseline8Bit,
};

export interface FixtureEncoding {
  explicitVr: boolean;
  littleEndian: boolean;
  /** How text VRs affected by Specific Character Set are encoded. */
  text: BufferEncoding;
}

const LONG_VRS = new Set('OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '));
/** VRs whose value is text that Specific Character Set applies to. */
const CHARSET_VRS = new Set('LO LT PN SH ST UC UT'.split(' '));
const NUMBER_WRITERS: Record<string, [number, (b: Buffer, v: number, le: boolean) => void]> = {
  US: [2, (b, v, le) => (le ? b.writeUInt16LE(v) : b.writeUInt16BE(v))],
  SS: [2, (b, v, le) => (le ? b.writeInt16LE(v) : b.writeInt16BE(v))],
  UL: [4, (b, v, le) => (le ? b.writeUInt32LE(v) : b.writeUInt32BE(v))],
  SL: [4, (b, v, le) => (le ? b.writeInt32LE(v) : b.writeInt32BE(v))],
  FL: [4, (b, v, le) => (le ? b.writeFloatLE(v) : b.writeFloatBE(v))],
  FD: [8, (b, v, le) => (le ? b.writeDoubleLE(v) : b.writeDoubleBE(v))],
  // AT: a tag number, written as group then element.
  AT: [
    4,
    (b, v, le) => {
      if (le) {
        b.writeUInt16LE(v >>> 16, 0);
        b.writeUInt16LE(v & 0xffff, 2);
      } else b.writeUInt32BE(v >>> 0);
    },
  ],
};

/** Encodes one element (header and padded value) in the given encoding. */
export function encodeElement(element: FixtureElement, encoding: FixtureEncoding): Buffer {
  const tag = parseInt(element.tag, 16);
  if (element.vr === 'SQ') return encodeSequence(tag, element, encoding);
  const value = encodeValue(element, encoding);
  return Buffer.concat([elementHeader(tag, element.vr, value.length, encoding), value]);
}

function elementHeader(tag: number, vr: string, length: number, encoding: FixtureEncoding): Buffer {
  const le = encoding.littleEndian;
  const long = !encoding.explicitVr || LONG_VRS.has(vr);
  const header = Buffer.alloc(encoding.explicitVr && long ? 12 : 8);
  if (le) {
    header.writeUInt16LE(tag >>> 16, 0);
    header.writeUInt16LE(tag & 0xffff, 2);
  } else {
    header.writeUInt16BE(tag >>> 16, 0);
    header.writeUInt16BE(tag & 0xffff, 2);
  }
  if (!encoding.explicitVr) {
    if (le) header.writeUInt32LE(length, 4);
    else header.writeUInt32BE(length, 4);
    return header;
  }
  header.write(vr, 4, 'latin1');
  if (long) {
    if (le) header.writeUInt32LE(length, 8);
    else header.writeUInt32BE(length, 8);
  } else if (le) header.writeUInt16LE(length, 6);
  else header.writeUInt16BE(length, 6);
  return header;
}

/** An item tag or delimiter (FFFE,xxxx), which has no VR even in explicit VR. */
function itemTag(element: number, length: number, littleEndian: boolean): Buffer {
  const b = Buffer.alloc(8);
  if (littleEndian) {
    b.writeUInt16LE(0xfffe, 0);
    b.writeUInt16LE(element, 2);
    b.writeUInt32LE(length, 4);
  } else {
    b.writeUInt16BE(0xfffe, 0);
    b.writeUInt16BE(element, 2);
    b.writeUInt32BE(length, 4);
  }
  return b;
}

function encodeSequence(tag: number, element: FixtureElement, encoding: FixtureEncoding): Buffer {
  const undefinedLength = element.undefinedLength ?? true;
  const le = encoding.littleEndian;
  const items = (element.items ?? []).map((item): Buffer => {
    const body = Buffer.concat(sortElements(item).map((e) => encodeElement(e, encoding)));
    return undefinedLength
      ? Buffer.concat([itemTag(0xe000, 0xffffffff, le), body, itemTag(0xe00d, 0, le)])
      : Buffer.concat([itemTag(0xe000, body.length, le), body]);
  });
  if (undefinedLength) items.push(itemTag(0xe0dd, 0, le));
  const value = Buffer.concat(items);
  const length = undefinedLength ? 0xffffffff : value.length;
  return Buffer.concat([elementHeader(tag, 'SQ', length, encoding), value]);
}

function encodeValue(element: FixtureElement, encoding: FixtureEncoding): Buffer {
  const { vr, value } = element;
  let bytes: Buffer<ArrayBufferLike>;
  if (value === undefined) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(value)) bytes = value;
  else if (vr in NUMBER_WRITERS) {
    const [size, write] = NUMBER_WRITERS[vr]!;
    const numbers = (Array.isArray(value) ? value : [value]) as readonly (number | string)[];
    bytes = Buffer.alloc(size * numbers.length);
    numbers.forEach((n, i) => write(bytes.subarray(i * size), Number(n), encoding.littleEndian));
  } else {
    const strings = (Array.isArray(value) ? value : [value]) as readonly (string | number)[];
    const text = strings.map(String).join('\\');
    bytes = Buffer.from(text, CHARSET_VRS.has(vr) ? encoding.text : 'latin1');
  }
  if (bytes.length % 2 === 0) return bytes;
  const pad = vr === 'UI' || vr === 'OB' || vr === 'UN' ? 0x00 : 0x20;
  return Buffer.concat([bytes, Buffer.from([pad])]);
}

function sortElements(elements: readonly FixtureElement[]): FixtureElement[] {
  return [...elements].sort((a, b) => parseInt(a.tag, 16) - parseInt(b.tag, 16));
}

interface Plan {
  info: Omit<GeneratedInstanceInfo, 'size' | 'pixelDataOffset' | 'metaLength'>;
  meta: Buffer;
  /** The data set up to (not including) Pixel Data, not deflated. */
  header: Buffer;
  /** The Pixel Data element: its header bytes and a generator of its value. */
  pixel: { header: Buffer; valueLength: number; chunks: () => Generator<Buffer> } | null;
  deflated: boolean;
}

function plan(opts: InstanceOptions): Plan {
  const syntax = opts.transferSyntax ?? 'explicit';
  const transferSyntaxUid = TRANSFER_SYNTAX_UIDS[syntax];
  const encoding: FixtureEncoding = {
    explicitVr: syntax !== 'implicit',
    littleEndian: syntax !== 'explicit-big-endian',
    text: opts.charset === 'ISO_IR 192' ? 'utf8' : 'latin1',
  };
  const sopClassUid = opts.sopClassUid ?? '1.2.840.10008.5.1.4.1.1.2'; // CT Image Storage
  const sopInstanceUid = opts.sopInstanceUid ?? newUid();
  const studyInstanceUid = opts.studyInstanceUid ?? newUid();
  const seriesInstanceUid = opts.seriesInstanceUid ?? newUid();
  const rows = opts.rows ?? 16;
  const columns = opts.columns ?? 16;
  const frames = opts.frames ?? 1;
  const jpeg = syntax === 'jpeg-baseline';
  const bitsAllocated = jpeg ? 8 : 16;

  const generated: FixtureElement[] = [
    { tag: '00080016', vr: 'UI', value: sopClassUid },
    { tag: '00080018', vr: 'UI', value: sopInstanceUid },
    { tag: '00080020', vr: 'DA', value: opts.studyDate ?? '20240102' },
    { tag: '00080030', vr: 'TM', value: opts.studyTime ?? '101500' },
    { tag: '00080050', vr: 'SH', value: opts.accession ?? 'ACC0001' },
    { tag: '00080060', vr: 'CS', value: opts.modality ?? 'CT' },
    { tag: '00080090', vr: 'PN', value: '' },
    { tag: '00081030', vr: 'LO', value: opts.studyDescription ?? 'Synthetic study' },
    { tag: '00100010', vr: 'PN', value: opts.patientName ?? 'Doe^Jane' },
    { tag: '00100020', vr: 'LO', value: opts.patientId ?? 'PID0001' },
    { tag: '00100030', vr: 'DA', value: opts.birthDate ?? '19700101' },
    { tag: '00100040', vr: 'CS', value: opts.sex ?? 'F' },
    { tag: '0020000D', vr: 'UI', value: studyInstanceUid },
    { tag: '0020000E', vr: 'UI', value: seriesInstanceUid },
    { tag: '00200010', vr: 'SH', value: '1' },
    { tag: '00200011', vr: 'IS', value: String(opts.seriesNumber ?? 1) },
    { tag: '00200013', vr: 'IS', value: String(opts.instanceNumber ?? 1) },
  ];
  if (opts.charset) generated.push({ tag: '00080005', vr: 'CS', value: opts.charset });
  if (!opts.noPixelData) {
    generated.push(
      { tag: '00280002', vr: 'US', value: [1] },
      { tag: '00280004', vr: 'CS', value: 'MONOCHROME2' },
      { tag: '00280010', vr: 'US', value: [rows] },
      { tag: '00280011', vr: 'US', value: [columns] },
      { tag: '00280100', vr: 'US', value: [bitsAllocated] },
      { tag: '00280101', vr: 'US', value: [bitsAllocated] },
      { tag: '00280102', vr: 'US', value: [bitsAllocated - 1] },
      { tag: '00280103', vr: 'US', value: [0] },
    );
    if (frames > 1) generated.push({ tag: '00280008', vr: 'IS', value: String(frames) });
  }
  const byTag = new Map<string, FixtureElement>();
  for (const e of [...generated, ...(opts.extra ?? [])]) byTag.set(e.tag.toUpperCase(), e);
  for (const tag of opts.omit ?? []) byTag.delete(tag.toUpperCase());
  const header = Buffer.concat(
    sortElements([...byTag.values()]).map((e) => encodeElement(e, encoding)),
  );

  const nativeBytes = rows * columns * frames * (bitsAllocated / 8);
  const pixelBytes = even(opts.pixelBytes ?? nativeBytes);
  let pixel: Plan['pixel'] = null;
  if (!opts.noPixelData && jpeg) {
    // Encapsulated (PS3.5 A.4): a Basic Offset Table item, one fragment per frame, a delimiter.
    const fragment = even(Math.ceil(pixelBytes / frames));
    const table = Buffer.alloc(4 * frames);
    for (let i = 0; i < frames; i++) table.writeUInt32LE(i * (8 + fragment), 4 * i);
    pixel = {
      header: elementHeader(0x7fe00010, 'OB', 0xffffffff, encoding),
      valueLength: 8 + table.length + frames * (8 + fragment) + 8,
      chunks: function* () {
        yield Buffer.concat([itemTag(0xe000, table.length, true), table]);
        for (let i = 0; i < frames; i++) {
          yield itemTag(0xe000, fragment, true);
          yield* patternChunks(fragment, 0xffd8);
        }
        yield itemTag(0xe0dd, 0, true);
      },
    };
  } else if (!opts.noPixelData) {
    pixel = {
      header: elementHeader(0x7fe00010, 'OW', pixelBytes, encoding),
      valueLength: pixelBytes,
      chunks: () => patternChunks(pixelBytes, 0),
    };
  }
  const meta = writePart10Meta({
    sopClassUid,
    sopInstanceUid,
    transferSyntaxUid,
    ...(opts.sourceAet ? { sourceAet: opts.sourceAet } : {}),
  });
  return {
    info: { sopClassUid, sopInstanceUid, studyInstanceUid, seriesInstanceUid, transferSyntaxUid },
    meta,
    header,
    pixel,
    deflated: syntax === 'deflated',
  };
}

function even(n: number): number {
  return n % 2 === 0 ? n : n + 1;
}

/** Deterministic, non-zero pixel bytes in 1 MiB chunks (optionally starting with a marker). */
function* patternChunks(total: number, marker: number): Generator<Buffer> {
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  let written = 0;
  while (written < total) {
    const n = Math.min(block.length, total - written);
    const chunk = Buffer.from(block.subarray(0, n));
    if (written === 0 && marker && n >= 2) chunk.writeUInt16BE(marker, 0);
    written += n;
    yield chunk;
  }
}

function* datasetChunks(p: Plan): Generator<Buffer> {
  yield p.header;
  if (p.pixel) {
    yield p.pixel.header;
    yield* p.pixel.chunks();
  }
}

function infoOf(p: Plan, datasetSize: number): GeneratedInstanceInfo {
  return {
    ...p.info,
    metaLength: p.meta.length,
    pixelDataOffset: p.pixel ? p.header.length : null,
    size: p.meta.length + datasetSize,
  };
}

/** Builds a whole instance in memory. For big pixel data use {@link makeInstanceStream}. */
export function makeInstance(opts: InstanceOptions = {}): GeneratedInstance {
  const p = plan(opts);
  let dataset = Buffer.concat([...datasetChunks(p)]);
  if (p.deflated) dataset = zlib.deflateRawSync(dataset);
  return { ...infoOf(p, dataset.length), part10: Buffer.concat([p.meta, dataset]), dataset };
}

/**
 * Streams an instance (meta header included) without holding it in memory. `size` is known in
 * advance except for 'deflated', where it is null.
 */
export function makeInstanceStream(
  opts: InstanceOptions = {},
): Omit<GeneratedInstanceInfo, 'size'> & { size: number | null; stream: Readable } {
  const p = plan(opts);
  const pixelSize = p.pixel ? p.pixel.header.length + p.pixel.valueLength : 0;
  const info = infoOf(p, p.header.length + pixelSize);
  const stream = p.deflated
    ? Readable.from(
        (async function* () {
          yield p.meta;
          yield* Readable.from(datasetChunks(p)).pipe(zlib.createDeflateRaw());
        })(),
        { objectMode: false },
      )
    : Readable.from(
        (function* () {
          yield p.meta;
          yield* datasetChunks(p);
        })(),
        { objectMode: false },
      );
  return { ...info, size: p.deflated ? null : info.size, stream };
}

/** Writes an instance to `path` in constant memory (e.g. a 150 MiB multi-frame instance). */
export async function writeInstanceFile(
  path: string,
  opts: InstanceOptions = {},
): Promise<Omit<GeneratedInstanceInfo, 'size'> & { size: number; path: string }> {
  const { stream, ...info } = makeInstanceStream(opts);
  const out = createWriteStream(path);
  await pipeline(stream, out);
  return { ...info, size: out.bytesWritten, path };
}
