import { isValidUid } from '../../dicom/index.js';
import { type AttributeDef } from './attributes.js';
import { SearchError } from './search-types.js';
import {
  hasWildcard,
  likePattern,
  normalisedDateTimeSql,
  normalisedTimeSql,
  parseDateRange,
  parseDateTimeRange,
  parseTimeRange,
  type Range,
} from './value-syntax.js';

/** Collects bind parameters; every user value goes through here, never into the SQL text. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** Longer values are not names, dates or UIDs: refuse them before they reach the database. */
const MAX_VALUE_LENGTH = 4096;
/** A UID list longer than this is a bulk export, not a query. */
const MAX_LIST_VALUES = 1000;

function values(value: string, key: string): string[] {
  const list = value.split('\\');
  if (list.length > MAX_LIST_VALUES) {
    throw new SearchError(`${key} lists more than ${MAX_LIST_VALUES} values`, key);
  }
  if (list.some((v) => v === ''))
    throw new SearchError(`${key} has an empty value in its list`, key);
  return list;
}

/**
 * The SQL condition for one matching key, or null for universal matching (empty value, or '*'
 * alone on an attribute that supports wildcards). `value` is as received: '\\' separates
 * multiple values (UID list matching, or multiple-value matching of strings).
 */
export function matchCondition(
  def: AttributeDef,
  value: string,
  params: SqlParams,
  key = def.keyword,
): string | null {
  if (value === '') return null;
  if (value.length > MAX_VALUE_LENGTH)
    throw new SearchError(`${key} is longer than ${MAX_VALUE_LENGTH} characters`, key);
  const column = def.column;
  switch (def.match) {
    case 'ignored':
      return null;
    case 'return-only':
      throw new SearchError(
        `${key} can be returned but not matched: give it with an empty value`,
        key,
      );
    case 'uid':
      return uidCondition(column!, uids(value, key), params);
    case 'uid-array': {
      const list = uids(value, key);
      return `${column} && ${params.add(list)}::text[]`;
    }
    case 'text':
    case 'pn':
      return textCondition(def, column!, value, params, key);
    case 'code-array':
      return codeArrayCondition(column!, value, params, key);
    case 'integer':
      return integerCondition(column!, value, params, key);
    case 'date':
      return rangeCondition(column!, parseDateRange(value, key), params);
    case 'time': {
      const range = parseTimeRange(value, key);
      const stored = normalisedTimeSql(column!);
      if (range.wrapsMidnight) {
        return `(${stored} >= ${params.add(range.lower)} OR ${stored} <= ${params.add(range.upper)})`;
      }
      // A null stored time stays unmatched: comparisons with NULL are not true.
      return rangeCondition(stored, range, params);
    }
    case 'datetime':
      return rangeCondition(normalisedDateTimeSql(column!), parseDateTimeRange(value, key), params);
  }
}

function uids(value: string, key: string): string[] {
  // PS3.18 8.3.4.1 also allows commas between UIDs; qido-params folds those into '\\' already,
  // but a C-FIND identifier only uses '\\'.
  const list = values(value, key);
  if (!list.every(isValidUid)) throw new SearchError(`${key} contains an invalid UID`, key);
  return list;
}

function uidCondition(column: string, list: string[], params: SqlParams): string {
  return list.length === 1
    ? `${column} = ${params.add(list[0])}`
    : `${column} = ANY(${params.add(list)}::text[])`;
}

/**
 * Single value, wildcard and multiple-value matching of a string. PN compares upper-cased on both
 * sides so that the expression matches the `upper(patient_name) text_pattern_ops` index, which
 * serves both `=` and prefix `LIKE 'ABC%'`.
 */
function textCondition(
  def: AttributeDef,
  column: string,
  value: string,
  params: SqlParams,
  key: string,
): string | null {
  const list = values(value, key);
  if (list.includes('*')) return null; // '*' alone matches everything, including no value
  const ci = def.match === 'pn';
  const lhs = ci ? `upper(${column})` : column;
  const rhs = (p: string) => (ci ? `upper(${p})` : p);
  const plain = list.filter((v) => !hasWildcard(v));
  const wild = list.filter(hasWildcard);
  const parts: string[] = [];
  if (plain.length > 1 && !ci) parts.push(`${lhs} = ANY(${params.add(plain)}::text[])`);
  else for (const p of plain) parts.push(`${lhs} = ${rhs(params.add(p))}`);
  for (const w of wild) parts.push(`${lhs} LIKE ${rhs(params.add(likePattern(w)))} ESCAPE '\\'`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

/**
 * ModalitiesInStudy against the study's array: containment (`@>`, `&&`) uses the GIN index on
 * modalities_in_study; a wildcard looks inside the array.
 */
function codeArrayCondition(
  column: string,
  value: string,
  params: SqlParams,
  key: string,
): string | null {
  const list = values(value, key);
  if (list.includes('*')) return null;
  const plain = list.filter((v) => !hasWildcard(v));
  const wild = list.filter(hasWildcard);
  const parts: string[] = [];
  if (plain.length === 1) parts.push(`${column} @> ARRAY[${params.add(plain[0])}::text]`);
  else if (plain.length > 1) parts.push(`${column} && ${params.add(plain)}::text[]`);
  for (const w of wild) {
    parts.push(
      `EXISTS (SELECT 1 FROM unnest(${column}) AS m(code) WHERE m.code LIKE ${params.add(likePattern(w))} ESCAPE '\\')`,
    );
  }
  return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

function integerCondition(column: string, value: string, params: SqlParams, key: string): string {
  const list = values(value, key).map((v) => v.trim());
  const ints = list.map((v) => (/^[+-]?\d{1,10}$/.test(v) ? Number(v) : NaN));
  if (ints.some((n) => !Number.isSafeInteger(n) || Math.abs(n) > 2 ** 31 - 1)) {
    throw new SearchError(`${key} must be an integer (or a '\\'-separated list of integers)`, key);
  }
  return ints.length === 1
    ? `${column} = ${params.add(ints[0])}`
    : `${column} = ANY(${params.add(ints)}::int[])`;
}

function rangeCondition(expr: string, range: Range, params: SqlParams): string {
  if (range.lower !== null && range.lower === range.upper)
    return `${expr} = ${params.add(range.lower)}`;
  if (range.lower !== null && range.upper !== null) {
    return `${expr} BETWEEN ${params.add(range.lower)} AND ${params.add(range.upper)}`;
  }
  if (range.lower !== null) return `${expr} >= ${params.add(range.lower)}`;
  return `${expr} <= ${params.add(range.upper)}`;
}
