import { TextDecoder } from 'node:util';
import { DicomFormatError } from './errors.js';
import { decodeDataset, dictionaryVr, type DicomJsonElement } from './decode-dataset.js';
import { scanDataset, type CapturedBulk } from './header-capture.js';
import { datasetEncoding, type DatasetEncoding, isValidUid } from './uids.js';

export { MAX_INLINE_BINARY_BYTES, type DicomJsonElement } from './decode-dataset.js';

/**
 * Turns a captured header into what the archive indexes (UIDs and patient/study/series
 * attributes, decoded to UTF-8) and keeps (the DICOM JSON model of the header): the structure is
 * checked by the walker, then decode-dataset.ts decodes it with the Specific Character Set.
 */

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

/** What parseHeaderSync needs to know about the bulk element (a CapturedBulk will do). */
export type BulkElementInfo = Pick<CapturedBulk, 'tag' | 'vr'> & Partial<CapturedBulk>;

/**
 * TextDecoder labels for the Specific Character Set terms (normalized: lower case, '-' for ' ' and
 * '_'). The same table dcmjs uses, so that stored metadata reads the same either way.
 */
const DECODER_LABELS: Record<string, string> = {
  '': 'iso-8859-1',
  'iso-ir-6': 'iso-8859-1',
  'iso-ir-13': 'shift-jis',
  'iso-ir-100': 'latin1',
  'iso-ir-101': 'iso-8859-2',
  'iso-ir-109': 'iso-8859-3',
  'iso-ir-110': 'iso-8859-4',
  'iso-ir-126': 'iso-ir-126',
  'iso-ir-127': 'iso-ir-127',
  'iso-ir-138': 'iso-ir-138',
  'iso-ir-144': 'iso-ir-144',
  'iso-ir-148': 'iso-ir-148',
  'iso-ir-166': 'tis-620',
  'iso-2022-ir-6': 'iso-8859-1',
  'iso-2022-ir-13': 'shift-jis',
  'iso-2022-ir-87': 'iso-2022-jp',
  'iso-2022-ir-100': 'latin1',
  'iso-2022-ir-101': 'iso-8859-2',
  'iso-2022-ir-109': 'iso-8859-3',
  'iso-2022-ir-110': 'iso-8859-4',
  'iso-2022-ir-126': 'iso-ir-126',
  'iso-2022-ir-127': 'iso-ir-127',
  'iso-2022-ir-138': 'iso-ir-138',
  'iso-2022-ir-144': 'iso-ir-144',
  'iso-2022-ir-148': 'iso-ir-148',
  'iso-2022-ir-149': 'euc-kr',
  'iso-2022-ir-159': 'iso-2022-jp',
  'iso-2022-ir-166': 'tis-620',
  'iso-2022-ir-58': 'iso-ir-58',
  'iso-ir-192': 'utf-8',
  gb18030: 'gb18030',
  'iso-2022-gbk': 'gbk',
  'iso-2022-58': 'gb2312',
  gbk: 'gbk',
};

function normalizeCharset(term: string): string {
  return term.replace(/[_ ]/g, '-').toLowerCase();
}

/** Whether a Specific Character Set defined term ('ISO_IR 100', 'ISO 2022 IR 87'...) is known. */
export function isKnownCharsetTerm(term: string): boolean {
  return normalizeCharset(term.trim()) in DECODER_LABELS;
}

const decoders = new Map<string, TextDecoder>();

function decoderFor(label: string): TextDecoder {
  let decoder = decoders.get(label);
  if (!decoder) {
    decoder = new TextDecoder(label);
    decoders.set(label, decoder);
  }
  return decoder;
}

export interface CharsetPlan {
  /** As written, backslash-joined; null when absent. */
  original: string | null;
  /** The TextDecoder label for text values. */
  label: string;
  /** Strip ISO 2022 escape sequences from decoded strings. */
  stripEscapes: boolean;
}

/**
 * One decoder for the whole header. Multi-valued Specific Character Sets ('\\ISO 2022 IR 87' for
 * Japanese, '\\ISO 2022 IR 149' for Korean...) are decoded with the single decoder that handles
 * the text: iso-2022-jp understands the JIS escape sequences itself; for the other ISO 2022 sets
 * the G1 bytes are exactly what euc-kr / gbk / latin1 decode, and the escapes are stripped after.
 * Unknown terms fall back to the default repertoire (decoded as latin1) rather than rejecting
 * the instance.
 */
export function planCharset(raw: string | null): CharsetPlan {
  if (raw === null) return { original: null, label: 'iso-8859-1', stripEscapes: false };
  const original = raw.replace(/[\0 ]+$/, '');
  const terms = original.split('\\').map((t) => t.trim());
  const stripEscapes = terms.length > 1 || terms.some((t) => t.startsWith('ISO 2022'));
  const supported = terms.filter((t) => t !== '' && normalizeCharset(t) in DECODER_LABELS);
  let chosen: string;
  if (terms.some((t) => t === 'ISO 2022 IR 87' || t === 'ISO 2022 IR 159')) {
    chosen = 'ISO 2022 IR 87';
  } else {
    chosen = supported.find((t) => !/^ISO[ _]2022 IR 6$|^ISO_IR 6$/.test(t)) ?? supported[0] ?? '';
  }
  return {
    original: original.trim() === '' ? null : original,
    label: DECODER_LABELS[normalizeCharset(chosen)] ?? 'iso-8859-1',
    stripEscapes,
  };
}

/**
 * Checks the structure of a data set (or its header), then decodes it to DICOM JSON with the text
 * decoder its Specific Character Set calls for (kept as the first element, as received).
 */
export function decodeWithCharset(
  bytes: Buffer,
  encoding: DatasetEncoding,
): {
  metadata: Record<string, DicomJsonElement>;
  charset: CharsetPlan;
  scan: ReturnType<typeof scanDataset>;
} {
  // The walker checks structure and nesting depth first. A full data set is accepted too: the
  // header then ends at its bulk element. A deflated header was inflated by HeaderCapture.
  const scan = scanDataset(bytes, encoding);
  const header = bytes.subarray(0, scan.headerLength);
  const charsetRange = scan.specificCharacterSet;
  const charset = planCharset(
    charsetRange
      ? header.toString('latin1', charsetRange.offset, charsetRange.offset + charsetRange.length)
      : null,
  );
  const decoder = decoderFor(charset.label);
  const metadata = decodeDataset(header, {
    explicitVr: encoding.explicitVr,
    littleEndian: encoding.littleEndian,
    decodeText: (b) => decoder.decode(b),
    stripEscapes: charset.stripEscapes,
  });
  if (charset.original !== null) {
    metadata['00080005'] = { vr: 'CS', Value: charset.original.split('\\').map(emptyToNull) };
  }
  return { metadata, charset, scan };
}

/**
 * Parses a captured header (the data set bytes before the bulk element; for a deflated transfer
 * syntax, the inflated bytes) in the given transfer syntax. Synchronous, CPU-bound and linear in
 * the header's size; HeaderParserPool runs large headers in a worker.
 */
export function parseHeaderSync(
  headerBytes: Buffer,
  transferSyntaxUid: string,
  bulk?: BulkElementInfo,
): ParsedHeader {
  const encoding = datasetEncoding(transferSyntaxUid);
  const { metadata, charset, scan } = decodeWithCharset(headerBytes, encoding);
  const bulkInfo = bulk ?? scan.bulk;
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
  return dictionaryVr(parseInt(bulk.tag, 16) >>> 0);
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
