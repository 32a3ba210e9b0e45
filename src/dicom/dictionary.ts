import dcmjs from 'dcmjs';
import { dictionaryVr } from './decode-dataset.js';

/**
 * Attribute names for people: keyword ↔ tag through dcmjs's copy of the PS3.6 data dictionary,
 * for configuration files that name attributes either way (PatientID, 00100020, (0010,0020)).
 */

export interface AttributeInfo {
  tag: number;
  /** 'GGGGEEEE', upper-case hex. */
  key: string;
  /** The dictionary keyword (PatientID); null for private or unknown tags. */
  keyword: string | null;
  /** The dictionary VR; 'UN' for private or unknown tags, 'OW'/'US' for the ambiguous ones. */
  vr: string;
}

function hex(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

/** The dictionary keyword of a tag, or null. */
export function keywordOf(tag: number): string | null {
  const key = hex(tag);
  const entry = dcmjs.data.DicomMetaDictionary.dictionary[`(${key.slice(0, 4)},${key.slice(4)})`];
  const name = entry?.name;
  return typeof name === 'string' && /^[A-Za-z][A-Za-z0-9]*$/.test(name) ? name : null;
}

/**
 * An attribute by keyword ('PatientID'), 'GGGGEEEE' or '(GGGG,EEEE)'. Null when a keyword is not
 * in the dictionary or the text is neither; a well-formed tag is always found (private or not).
 */
export function lookupAttribute(name: string): AttributeInfo | null {
  const text = name.trim();
  const tagMatch = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$/.exec(text);
  let tag: number;
  if (tagMatch && text.startsWith('(') === text.endsWith(')')) {
    tag = parseInt(`${tagMatch[1]}${tagMatch[2]}`, 16) >>> 0;
  } else if (/^[A-Za-z][A-Za-z0-9]*$/.test(text)) {
    const entry = dcmjs.data.DicomMetaDictionary.nameMap[text];
    const m = entry?.tag ? /^\(([0-9A-F]{4}),([0-9A-F]{4})\)$/.exec(entry.tag) : null;
    if (!m) return null;
    tag = parseInt(`${m[1]}${m[2]}`, 16) >>> 0;
  } else {
    return null;
  }
  return { tag, key: hex(tag), keyword: keywordOf(tag), vr: dictionaryVr(tag) };
}
