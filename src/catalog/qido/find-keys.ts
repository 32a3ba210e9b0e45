import { isJoined, resolveAttribute } from './attributes.js';
import { PATIENT_COUNT_TAGS, resolvePatientAttribute } from './patient-sql.js';
import { type QueryLevel } from './search-types.js';

/** The levels of the Query/Retrieve information models: QIDO's three, and the patient. */
export type FindLevel = 'patient' | QueryLevel;

/**
 * What the catalog does with a key of a C-FIND identifier at a level (PS3.4 C.2.2.1):
 * - matching: supported for matching and existence (a catalog column of the level or above);
 * - return: supported for existence only (a counter, or a value read from the stored metadata of
 *   one instance of the entity, as QIDO-RS includefield does): a value given is not matched;
 * - unsupported: neither (a lower level's attribute, a computed DICOMweb attribute, a private
 *   attribute, anything at the patient level that is not a patient column or counter).
 */
export type FindKeySupport =
  | { kind: 'matching'; keyword: string; vr: string }
  | { kind: 'return'; keyword: string | null; vr: string | null }
  | { kind: 'unsupported'; keyword: string | null };

/** `tag`: 'GGGGEEEE', upper-case. */
export function findKeySupport(level: FindLevel, tag: string): FindKeySupport {
  if (level === 'patient') {
    const attr = resolvePatientAttribute(tag);
    if (!attr) return { kind: 'unsupported', keyword: keywordOf(tag) };
    return attr.kind === 'count'
      ? { kind: 'return', keyword: attr.def.keyword, vr: 'IS' }
      : { kind: 'matching', keyword: attr.def.keyword, vr: attr.def.vr };
  }
  const attr = resolveAttribute(tag);
  if (!attr) return { kind: 'unsupported', keyword: null };
  if (attr.kind === 'metadata') {
    const privateGroup = parseInt(tag.slice(0, 4), 16) % 2 === 1;
    return privateGroup || PATIENT_COUNT_TAGS.has(tag)
      ? { kind: 'unsupported', keyword: attr.keyword }
      : { kind: 'return', keyword: attr.keyword, vr: attr.vr };
  }
  const def = attr.def;
  if (def.computed || def.match === 'ignored' || !isJoined(def.level, level)) {
    return { kind: 'unsupported', keyword: def.keyword };
  }
  if (def.match === 'return-only') return { kind: 'return', keyword: def.keyword, vr: def.vr };
  return { kind: 'matching', keyword: def.keyword, vr: def.vr };
}

function keywordOf(tag: string): string | null {
  const attr = resolveAttribute(tag);
  if (!attr) return null;
  return attr.kind === 'catalog' ? attr.def.keyword : attr.keyword;
}
