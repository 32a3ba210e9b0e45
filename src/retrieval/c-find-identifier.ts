import { type Readable } from 'node:stream';
import { findKeySupport, type FindLevel, type MatchingKey } from '../catalog/index.js';
import {
  decodeDataSet,
  type DicomJsonDataset,
  type DicomJsonElement,
  isDicomFormatError,
  isValidUid,
} from '../dicom/index.js';
import { DimseStatus } from '../dimse/index.js';

/**
 * The request side of the C-FIND SCP (PS3.4 C.4.1): the identifier read from the DIMSE stream
 * (bounded), decoded with its Specific Character Set, and turned into catalog matching keys for
 * one level of the Patient Root or Study Root information model. Pure apart from reading the
 * stream; every refusal is a FindRefusal whose comment names keys, never values.
 */

export const PATIENT_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.1.1';
export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';

export type FindModel = 'patient-root' | 'study-root';

export function findModelOf(sopClassUid: string): FindModel | null {
  if (sopClassUid === PATIENT_ROOT_FIND) return 'patient-root';
  if (sopClassUid === STUDY_ROOT_FIND) return 'study-root';
  return null;
}

/** An identifier is a few dozen keys: anything near this size is not a query. */
export const MAX_IDENTIFIER_BYTES = 1024 * 1024;

export type FindLevelName = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

const LEVELS: Record<FindModel, Partial<Record<FindLevelName, FindLevel>>> = {
  'patient-root': { PATIENT: 'patient', STUDY: 'study', SERIES: 'series', IMAGE: 'instance' },
  'study-root': { STUDY: 'study', SERIES: 'series', IMAGE: 'instance' },
};

const PATIENT_ID = '00100020';
const STUDY_UID = '0020000D';
const SERIES_UID = '0020000E';
const KEYWORDS: Record<string, string> = {
  [PATIENT_ID]: 'PatientID',
  [STUDY_UID]: 'StudyInstanceUID',
  [SERIES_UID]: 'SeriesInstanceUID',
};

/**
 * The Unique Keys of the levels above the query level, which a hierarchical (baseline) query
 * must give as single values (PS3.4 C.4.1.2.2.1).
 */
const UPPER_UNIQUE_KEYS: Record<FindModel, Partial<Record<FindLevelName, string[]>>> = {
  'patient-root': {
    STUDY: [PATIENT_ID],
    SERIES: [PATIENT_ID, STUDY_UID],
    IMAGE: [PATIENT_ID, STUDY_UID, SERIES_UID],
  },
  'study-root': { SERIES: [STUDY_UID], IMAGE: [STUDY_UID, SERIES_UID] },
};

export const QUERY_RETRIEVE_LEVEL = '00080052';
export const RETRIEVE_AE_TITLE = '00080054';
export const SPECIFIC_CHARACTER_SET = '00080005';

/** A C-FIND answered with a failure before any match: the status, and why (≤ 64 characters). */
export class FindRefusal extends Error {
  override readonly name = 'FindRefusal';

  constructor(
    readonly status: number,
    comment: string,
    /** The element at fault ('GGGGEEEE'), for Offending Element (0000,0901). */
    readonly offendingTag?: string,
  ) {
    // Error Comment is an LO of the command set: 64 characters of the default repertoire.
    super(comment.length > 64 ? `${comment.slice(0, 61)}...` : comment);
  }
}

/** A key that every response carries, with the VR it is encoded with. */
export interface ResponseKey {
  tag: string;
  vr: string;
}

export interface FindQuery {
  model: FindModel;
  levelName: FindLevelName;
  level: FindLevel;
  /**
   * For the catalog, in tag order: each key by keyword (tag when the catalog has none, so that
   * its errors name it readably) with its matching value ('' = return key).
   */
  keys: Array<MatchingKey & { tag: string }>;
  /** The requested keys the responses hold, in tag order (Q/R level, charset, AE title aside). */
  responseKeys: ResponseKey[];
  /** Keys given with a value that is not matched (supported for existence only). */
  notMatched: string[];
  /** Keys neither matched nor returned (sequences, lower levels, private, computed). */
  unsupported: string[];
  /** Every key of the identifier by keyword (tag when unknown), for the audit: no values. */
  keyNames: string[];
  /** (0008,0005) as written ('\\'-joined), '' when given empty, null when absent. */
  specificCharacterSet: string | null;
  /** The study a series or image query is within (its upper Unique Key), for the audit. */
  studyInstanceUid: string | null;
}

/** Pending status for the query's matches: 0xFF01 when some key was not fully supported. */
export function pendingStatus(query: FindQuery): number {
  return query.unsupported.length > 0 || query.notMatched.length > 0
    ? DimseStatus.PendingWarning
    : DimseStatus.Pending;
}

/**
 * Reads the identifier, at most `maxBytes` of it: null when it is longer (the rest is then
 * drained and discarded, so the association goes on).
 */
export function readIdentifier(
  data: Readable,
  maxBytes = MAX_IDENTIFIER_BYTES,
): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let overflow = false;
    data.on('data', (chunk: Buffer) => {
      if (overflow) return;
      total += chunk.length;
      if (total > maxBytes) {
        overflow = true;
        chunks.length = 0;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    data.once('end', () => resolve(overflow ? null : Buffer.concat(chunks, total)));
    data.once('error', (error) => (overflow ? undefined : reject(error)));
  });
}

/** Decodes an identifier received in `transferSyntaxUid` and checks it against the model. */
export function parseFindIdentifier(
  bytes: Buffer,
  transferSyntaxUid: string,
  model: FindModel,
): FindQuery {
  let dataset: DicomJsonDataset;
  try {
    dataset = decodeDataSet(bytes, transferSyntaxUid);
  } catch (error) {
    if (isDicomFormatError(error) && error.reason === 'unsupported-transfer-syntax') {
      throw new FindRefusal(DimseStatus.CannotUnderstand, 'transfer syntax not supported');
    }
    if (isDicomFormatError(error)) {
      throw new FindRefusal(DimseStatus.CannotUnderstand, 'the identifier is not a valid data set');
    }
    throw error;
  }
  return findQueryOf(dataset, model);
}

/** The query an identifier (already decoded to DICOM JSON) asks for. */
export function findQueryOf(dataset: DicomJsonDataset, model: FindModel): FindQuery {
  const levelElement = dataset[QUERY_RETRIEVE_LEVEL];
  const levelText = levelElement ? matchingValue(levelElement).value.trim().toUpperCase() : '';
  if (!levelText) {
    throw new FindRefusal(
      DimseStatus.DataSetDoesNotMatchSopClass,
      'QueryRetrieveLevel is missing',
      QUERY_RETRIEVE_LEVEL,
    );
  }
  const level = (LEVELS[model] as Record<string, FindLevel | undefined>)[levelText];
  if (!level) {
    throw new FindRefusal(
      DimseStatus.DataSetDoesNotMatchSopClass,
      model === 'study-root' && levelText === 'PATIENT'
        ? 'the Study Root model has no PATIENT level'
        : 'QueryRetrieveLevel is not a level of the model',
      QUERY_RETRIEVE_LEVEL,
    );
  }
  const levelName = levelText as FindLevelName;
  for (const tag of UPPER_UNIQUE_KEYS[model][levelName] ?? []) {
    const element = dataset[tag];
    const value = element ? matchingValue(element).value : '';
    const single = value !== '' && !/[\\*?]/.test(value);
    if (!single || (tag !== PATIENT_ID && !isValidUid(value))) {
      throw new FindRefusal(
        DimseStatus.DataSetDoesNotMatchSopClass,
        `${levelName} level needs a single ${KEYWORDS[tag]!}`,
        tag,
      );
    }
  }

  const query: FindQuery = {
    model,
    levelName,
    level,
    keys: [],
    responseKeys: [],
    notMatched: [],
    unsupported: [],
    keyNames: [],
    specificCharacterSet: charsetOf(dataset[SPECIFIC_CHARACTER_SET]),
    studyInstanceUid:
      level === 'series' || level === 'instance' ? matchingValue(dataset[STUDY_UID]!).value : null,
  };
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag]!;
    // Group lengths, and groups below 0008 (command and meta), are not keys (PS3.4 C.4.1.1.3).
    if (tag.endsWith('0000') || tag < '00080000') continue;
    if (tag === QUERY_RETRIEVE_LEVEL || tag === SPECIFIC_CHARACTER_SET) continue;
    const support = findKeySupport(level, tag);
    query.keyNames.push(support.keyword ?? tag);
    // Retrieve AE Title is ours to say: always returned, never matched.
    if (tag === RETRIEVE_AE_TITLE) continue;
    // Sequence matching is not supported (PS3.4 C.2.2.2.6 allows it only as an optional key):
    // like any unsupported optional key, a sequence is left out of the responses, with 0xFF01.
    if (element.vr === 'SQ' || support.kind === 'unsupported') {
      query.unsupported.push(tag);
      continue;
    }
    const { value, alphabeticOnly } = matchingValue(element);
    if (support.kind === 'return') {
      if (value !== '') query.notMatched.push(tag);
      query.keys.push({ key: support.keyword ?? tag, tag, value: '' });
      query.responseKeys.push({ tag, vr: support.vr ?? element.vr });
      continue;
    }
    // A lone '*' is universal matching whatever the VR (some SCUs send it for UIDs and dates).
    query.keys.push({ key: support.keyword, tag, value: value === '*' ? '' : value });
    if (!alphabeticOnly) query.notMatched.push(tag);
    query.responseKeys.push({ tag, vr: support.vr });
  }
  return query;
}

/**
 * The matching value of an element as a C-FIND identifier carries it: '\\'-joined values, PN by
 * their alphabetic group (the one the catalog indexes), numbers as text, '' when empty.
 * `alphabeticOnly` is false when a PN value also had ideographic or phonetic groups, which are
 * not matched.
 */
function matchingValue(element: DicomJsonElement): { value: string; alphabeticOnly: boolean } {
  let alphabeticOnly = true;
  const parts = (element.Value ?? []).map((v) => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') {
      const name = v as Record<string, unknown>;
      if (name.Ideographic !== undefined || name.Phonetic !== undefined) alphabeticOnly = false;
      return typeof name.Alphabetic === 'string' ? name.Alphabetic : '';
    }
    return String(v);
  });
  return { value: parts.every((p) => p === '') ? '' : parts.join('\\'), alphabeticOnly };
}

function charsetOf(element: DicomJsonElement | undefined): string | null {
  if (!element) return null;
  return (element.Value ?? []).map((v) => (typeof v === 'string' ? v : '')).join('\\');
}
