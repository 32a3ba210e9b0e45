import dcmjs, { type DcmjsDict } from 'dcmjs';
import { DicomFormatError } from './errors.js';
import { MAX_SEQUENCE_DEPTH, scanDataset, type CapturedBulk } from './header-capture.js';
import { writePart10Meta } from './part10.js';
import { TransferSyntax, datasetEncoding, isValidUid } from './uids.js';

/**
 * Turns a captured header into what the archive indexes (UIDs and patient/study/series
 * attributes, decoded to UTF-8) and keeps (the DICOM JSON model of the header). dcmjs does the
 * element decoding; this file bounds what it is given, fixes up character sets, and converts its
 * output to plain, JSON-safe DICOM JSON. Runs in a worker (header-parser-pool.ts) because dcmjs
 * is not bounded in time or memory on hostile input.
 */

dcmjs.log.setLevel('silent');

export interface ParsedAttributes {
  patientName: string | null;
  patientId: string | null;
  issuerOfPatientId: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  studyId: string | null;
  studyDescription: string | null;
  referringPhysicianName: string | null;
  institutionName: string | null;
  modality: string | null;
  seriesNumber: number | null;
  seriesDescription: string | null;
  bodyPartExamined: string | null;
  seriesDate: string | null;
  seriesTime: string | null;
  performedProcedureStepStartDate: string | null;
  performedProcedureStepStartTime: string | null;
  instanceNumber: number | null;
  rows: number | null;
  columns: number | null;
  numberOfFrames: number | null;
  contentDate: string | null;
  contentTime: string | null;
}

export interface ParsedHeader {
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** The Specific Character Set as written (e.g. '\\ISO 2022 IR 87'), null when absent. */
  specificCharacterSet: string | null;
  /**
   * Decoded (UTF-8) strings for indexing; null when absent or empty. PN values: the Alphabetic
   * group as a DICOM-format string 'Family^Given^Middle^Prefix^Suffix' (ideographic and phonetic
   * groups are kept in metadata only). Dates 'YYYYMMDD', times as given.
   */
  attributes: ParsedAttributes;
  /**
   * The header as the DICOM JSON model (PS3.18 F.2), keys 'GGGGEEEE'. Binary values of at most
   * 1 KiB as InlineBinary (little endian); larger ones and the bulk element (if any) as
   * `{ vr, BulkDataURI: '' }` placeholders for the retrieval layer to fill in.
   */
  metadata: Record<string, DicomJsonElement>;
}

export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

/** What parseHeaderSync needs to know about the bulk element (a CapturedBulk will do). */
export type BulkElementInfo = Pick<CapturedBulk, 'tag' | 'vr'> & Partial<CapturedBulk>;

export const MAX_INLINE_BINARY_BYTES = 1024;

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
/** Word size of binary VRs, for byte-swapping big endian values to little endian. */
const WORD_SIZE: Record<string, number> = { OW: 2, OF: 4, OL: 4, OD: 8, OV: 8 };
const NUMBER_VRS = new Set(['DS', 'FD', 'FL', 'IS', 'SL', 'SS', 'SV', 'UL', 'US', 'UV']);

/** The normalized Specific Character Set terms dcmjs decodes (its `encodingMapping`). */
const DCMJS_CHARSETS = new Set(
  (
    ' iso-ir-6 iso-ir-13 iso-ir-100 iso-ir-101 iso-ir-109 iso-ir-110 iso-ir-126 iso-ir-127 ' +
    'iso-ir-138 iso-ir-144 iso-ir-148 iso-ir-166 iso-2022-ir-6 iso-2022-ir-13 iso-2022-ir-87 ' +
    'iso-2022-ir-100 iso-2022-ir-101 iso-2022-ir-109 iso-2022-ir-110 iso-2022-ir-126 ' +
    'iso-2022-ir-127 iso-2022-ir-138 iso-2022-ir-144 iso-2022-ir-148 iso-2022-ir-149 ' +
    'iso-2022-ir-159 iso-2022-ir-166 iso-2022-ir-58 iso-ir-192 gb18030 iso-2022-gbk ' +
    'iso-2022-58 gbk'
  ).split(' '),
);

function normalizeCharset(term: string): string {
  return term.replace(/[_ ]/g, '-').toLowerCase();
}

/** ISO 2022 escape sequences (ESC, intermediates, final byte) left in decoded text. */
// eslint-disable-next-line no-control-regex -- matching the ESC control character is the point
const ISO2022_ESCAPE = /\x1b[\x20-\x2f]*[\x30-\x7e]/g;

interface CharsetPlan {
  /** As written, backslash-joined; null when absent. */
  original: string | null;
  /** What to write over the value for dcmjs (same length), or null to leave it. */
  replacement: string | null;
  /** Strip ISO 2022 escape sequences from decoded strings. */
  stripEscapes: boolean;
}

/**
 * dcmjs decodes with a single character set and throws on multi-valued Specific Character Set
 * ('\\ISO 2022 IR 87' for Japanese, '\\ISO 2022 IR 149' for Korean...) and on unknown terms. The
 * value is rewritten, in the copy given to dcmjs, to the single term whose decoder handles the
 * text: iso-2022-jp understands the JIS escape sequences itself; for the other ISO 2022 sets the
 * G1 bytes are exactly what euc-kr / gbk / latin1 decode, and the escapes are stripped after.
 * Unknown terms fall back to the default repertoire (decoded as latin1) rather than rejecting
 * the instance.
 */
function planCharset(raw: string | null): CharsetPlan {
  if (raw === null) return { original: null, replacement: null, stripEscapes: false };
  const original = raw.replace(/[\0 ]+$/, '');
  const terms = original.split('\\').map((t) => t.trim());
  const stripEscapes = terms.length > 1 || terms.some((t) => t.startsWith('ISO 2022'));
  const supported = terms.filter((t) => t !== '' && DCMJS_CHARSETS.has(normalizeCharset(t)));
  let chosen: string;
  if (terms.some((t) => t === 'ISO 2022 IR 87' || t === 'ISO 2022 IR 159')) {
    chosen = 'ISO 2022 IR 87';
  } else {
    chosen = supported.find((t) => !/^ISO[ _]2022 IR 6$|^ISO_IR 6$/.test(t)) ?? supported[0] ?? '';
  }
  const unchanged = terms.length === 1 && (terms[0] === '' || supported.length === 1);
  return {
    original: original.trim() === '' ? null : original,
    replacement: unchanged ? null : chosen.padEnd(raw.length, ' '),
    stripEscapes,
  };
}

/**
 * Parses a captured header (the data set bytes before the bulk element; for a deflated transfer
 * syntax, the inflated bytes) in the given transfer syntax. Synchronous and CPU-bound: call it
 * through HeaderParserPool, which bounds time and memory.
 */
export function parseHeaderSync(
  headerBytes: Buffer,
  transferSyntaxUid: string,
  bulk?: BulkElementInfo,
): ParsedHeader {
  const encoding = datasetEncoding(transferSyntaxUid);
  // The walker checks structure and nesting depth before dcmjs, which recurses, sees the bytes.
  // A full data set is accepted too: the header then ends at its bulk element.
  const scan = scanDataset(headerBytes, encoding);
  const header = headerBytes.subarray(0, scan.headerLength);
  const bulkInfo = bulk ?? scan.bulk;

  const charsetRange = scan.specificCharacterSet;
  const charset = planCharset(
    charsetRange
      ? header.toString('latin1', charsetRange.offset, charsetRange.offset + charsetRange.length)
      : null,
  );

  // dcmjs reads whole Part 10 files only, so the header gets a synthetic meta group. A deflated
  // header was inflated by HeaderCapture: it is read as the explicit VR little endian it is.
  const meta = writePart10Meta({
    sopClassUid: '1.2',
    sopInstanceUid: '1.2',
    transferSyntaxUid: encoding.deflated
      ? TransferSyntax.ExplicitVRLittleEndian
      : transferSyntaxUid,
  });
  const file = new ArrayBuffer(meta.length + header.length);
  const fileBytes = Buffer.from(file);
  meta.copy(fileBytes, 0);
  header.copy(fileBytes, meta.length);
  if (charsetRange && charset.replacement !== null) {
    fileBytes.write(charset.replacement, meta.length + charsetRange.offset, 'latin1');
  }

  let dict: DcmjsDict;
  try {
    dict = dcmjs.data.DicomMessage.readFile(file, { ignoreErrors: false, untilTag: null }).dict;
  } catch {
    // dcmjs messages may quote element values, so they are not passed on.
    throw new DicomFormatError('malformed', 'the data set header could not be decoded');
  }

  const context: ConvertContext = {
    littleEndian: encoding.littleEndian,
    stripEscapes: charset.stripEscapes,
  };
  let metadata: Record<string, DicomJsonElement>;
  try {
    metadata = convertDataset(dict, context, 0);
  } catch (err) {
    if (err instanceof DicomFormatError) throw err;
    throw new DicomFormatError('malformed', 'the data set header could not be converted');
  }
  if (charset.original !== null) {
    metadata['00080005'] = { vr: 'CS', Value: charset.original.split('\\').map(emptyToNull) };
  }
  if (bulkInfo) {
    metadata[bulkInfo.tag] = { vr: bulkVr(bulkInfo, encoding.explicitVr), BulkDataURI: '' };
  }

  return {
    transferSyntaxUid,
    sopClassUid: requireUid(metadata, '00080016', 'SOPClassUID'),
    sopInstanceUid: requireUid(metadata, '00080018', 'SOPInstanceUID'),
    studyInstanceUid: requireUid(metadata, '0020000D', 'StudyInstanceUID'),
    seriesInstanceUid: requireUid(metadata, '0020000E', 'SeriesInstanceUID'),
    specificCharacterSet: charset.original,
    attributes: extractAttributes(metadata),
    metadata,
  };
}

function emptyToNull(s: string): string | null {
  const t = s.trim();
  return t === '' ? null : t;
}

/** Implicit VR streams carry no VR: the dictionary knows it for standard tags. */
function bulkVr(bulk: BulkElementInfo, explicitVr: boolean): string {
  if (explicitVr || bulk.vr !== 'UN') return bulk.vr;
  const key = `(${bulk.tag.slice(0, 4)},${bulk.tag.slice(4)})`;
  const vr = dcmjs.data.DicomMetaDictionary.dictionary[key]?.vr;
  if (vr === 'ox') return 'OW';
  if (vr === 'xs') return 'US';
  return vr && /^[A-Z]{2}$/.test(vr) ? vr : 'UN';
}

interface ConvertContext {
  littleEndian: boolean;
  stripEscapes: boolean;
}

/** dcmjs's dict to plain DICOM JSON: no accessors, no ArrayBuffers, no NaN, no BigInt. */
function convertDataset(
  dict: DcmjsDict,
  context: ConvertContext,
  depth: number,
): Record<string, DicomJsonElement> {
  if (depth > MAX_SEQUENCE_DEPTH) {
    throw new DicomFormatError('malformed', 'sequences are nested too deeply');
  }
  const out: Record<string, DicomJsonElement> = {};
  for (const tag of Object.keys(dict).sort()) {
    if (!/^[0-9A-F]{8}$/.test(tag)) continue;
    const element = dict[tag]!;
    const vr = typeof element.vr === 'string' && /^[A-Z]{2}$/.test(element.vr) ? element.vr : 'UN';
    const values = Array.isArray(element.Value) ? element.Value : [];
    out[tag] =
      vr === 'UN' && isPrivateCreator(tag)
        ? privateCreator(values)
        : convertElement(vr, values, context, depth);
  }
  return out;
}

/** (gggg,0010-00FF) with gggg odd: the private creator, which names what the block means. */
function isPrivateCreator(tag: string): boolean {
  const group = parseInt(tag.slice(0, 4), 16);
  const element = parseInt(tag.slice(4), 16);
  return group % 2 === 1 && group > 0x0008 && element >= 0x0010 && element <= 0x00ff;
}

/** Implicit VR leaves private creators as UN bytes in dcmjs; they are LO text by definition. */
function privateCreator(values: unknown[]): DicomJsonElement {
  const text = Buffer.concat(binaryParts(values))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return text ? { vr: 'LO', Value: [text] } : { vr: 'LO' };
}

function convertElement(
  vr: string,
  values: unknown[],
  context: ConvertContext,
  depth: number,
): DicomJsonElement {
  if (vr === 'SQ') {
    const items = values.map((item) =>
      isRecord(item) ? convertDataset(item as DcmjsDict, context, depth + 1) : {},
    );
    return items.length ? { vr, Value: items } : { vr };
  }
  if (BINARY_VRS.has(vr)) return convertBinary(vr, values, context);
  let converted: unknown[];
  if (vr === 'PN') converted = values.map((v) => convertPersonName(v, context));
  else if (vr === 'AT') converted = values.map(convertTag);
  else if (NUMBER_VRS.has(vr)) converted = values.map(convertNumber);
  else converted = values.map((v) => convertString(v, context));
  // PS3.18 F.2.5: an empty value is null, and an element without values has no Value at all.
  if (converted.every((v) => v === null)) return { vr };
  return { vr, Value: converted };
}

function convertString(v: unknown, context: ConvertContext): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return null;
  const s = context.stripEscapes ? v.replace(ISO2022_ESCAPE, '') : v;
  return s === '' ? null : s;
}

function convertPersonName(v: unknown, context: ConvertContext): Record<string, string> | null {
  if (typeof v === 'string') v = { Alphabetic: v };
  if (!isRecord(v)) return null;
  const out: Record<string, string> = {};
  for (const group of ['Alphabetic', 'Ideographic', 'Phonetic']) {
    const s = convertString(v[group], context);
    if (s !== null) out[group] = s;
  }
  return Object.keys(out).length ? out : null;
}

function convertTag(v: unknown): string | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff
    ? v.toString(16).toUpperCase().padStart(8, '0')
    : null;
}

/** SV/UV beyond 2^53 become strings, as PS3.18 F.2.3 allows; NaN and infinities become null. */
function convertNumber(v: unknown): number | string | null {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** dcmjs gives binary values as ArrayBuffers or typed arrays, one or several. */
function binaryParts(values: unknown[]): Buffer[] {
  const parts: Buffer[] = [];
  for (const v of values) {
    if (ArrayBuffer.isView(v)) parts.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    else if (
      v instanceof ArrayBuffer ||
      Object.prototype.toString.call(v) === '[object ArrayBuffer]'
    ) {
      parts.push(Buffer.from(v as ArrayBuffer));
    }
  }
  return parts;
}

function convertBinary(vr: string, values: unknown[], context: ConvertContext): DicomJsonElement {
  const parts = binaryParts(values);
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (total === 0) return { vr };
  if (total > MAX_INLINE_BINARY_BYTES) return { vr, BulkDataURI: '' };
  const bytes = Buffer.concat(parts, total);
  const word = WORD_SIZE[vr];
  // InlineBinary is little endian; dcmjs hands big endian OW/OF/... over unswapped.
  if (!context.littleEndian && word && bytes.length % word === 0) {
    if (word === 2) bytes.swap16();
    else if (word === 4) bytes.swap32();
    else bytes.swap64();
  }
  return { vr, InlineBinary: bytes.toString('base64') };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function firstValue(metadata: Record<string, DicomJsonElement>, tag: string): unknown {
  return metadata[tag]?.Value?.[0] ?? null;
}

function requireUid(
  metadata: Record<string, DicomJsonElement>,
  tag: string,
  keyword: string,
): string {
  const value = firstValue(metadata, tag);
  const where = `${keyword} (${tag.slice(0, 4)},${tag.slice(4)})`;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new DicomFormatError('missing-attribute', `the data set has no ${where}`);
  }
  const uid = value.replace(/\0+$/, '').trim();
  if (!isValidUid(uid)) {
    throw new DicomFormatError('invalid-uid', `${where} is not a valid UID`);
  }
  return uid;
}

function extractAttributes(metadata: Record<string, DicomJsonElement>): ParsedAttributes {
  const text = (tag: string): string | null => {
    const v = firstValue(metadata, tag);
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
  };
  const name = (tag: string): string | null => {
    const v = firstValue(metadata, tag);
    return isRecord(v) && typeof v.Alphabetic === 'string' ? v.Alphabetic : null;
  };
  const integer = (tag: string): number | null => {
    const v = firstValue(metadata, tag);
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
  };
  return {
    patientName: name('00100010'),
    patientId: text('00100020'),
    issuerOfPatientId: text('00100021'),
    patientBirthDate: text('00100030'),
    patientSex: text('00100040'),
    studyDate: text('00080020'),
    studyTime: text('00080030'),
    accessionNumber: text('00080050'),
    studyId: text('00200010'),
    studyDescription: text('00081030'),
    referringPhysicianName: name('00080090'),
    institutionName: text('00080080'),
    modality: text('00080060'),
    seriesNumber: integer('00200011'),
    seriesDescription: text('0008103E'),
    bodyPartExamined: text('00180015'),
    seriesDate: text('00080021'),
    seriesTime: text('00080031'),
    performedProcedureStepStartDate: text('00400244'),
    performedProcedureStepStartTime: text('00400245'),
    instanceNumber: integer('00200013'),
    rows: integer('00280010'),
    columns: integer('00280011'),
    numberOfFrames: integer('00280008'),
    contentDate: text('00080023'),
    contentTime: text('00080033'),
  };
}
