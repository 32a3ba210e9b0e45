import { resolveAttribute } from './attributes.js';
import {
  type MatchingKey,
  type QueryLevel,
  type SearchRequest,
  type SearchScope,
  SearchError,
} from './search-types.js';

/** Results per page when the client gives no limit. */
export const QIDO_DEFAULT_LIMIT = 100;
/** The most results one request returns; a larger limit is reduced to this, with a Warning. */
export const QIDO_MAX_LIMIT = 1000;
const MAX_OFFSET = 2 ** 31 - 1;

export interface QidoParams {
  request: SearchRequest;
  /** Texts for `Warning: 299 {host} "<text>"` response headers (PS3.18 8.3.4 / 6.5). */
  warnings: string[];
  /**
   * True when the server, not the client, chose the page size (no limit, or one above the
   * maximum): then a full page means more results exist and the response says so.
   */
  serverLimited: boolean;
}

function single(name: string, all: string[]): string {
  if (all.length > 1) throw new SearchError(`the ${name} parameter is given more than once`, name);
  return all[0]!;
}

function count(name: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SearchError(`${name} must be an integer from ${min}`, name);
  }
  return Number(raw);
}

/**
 * Turns QIDO-RS query parameters (PS3.18 8.3.4), in the order received and with repeats, into a
 * search. Reserved parameters: limit, offset, includefield, fuzzymatching. Every other name is an
 * attribute (keyword or tag) with a matching value; UIDs may be repeated or comma-separated
 * (UID list matching). Fuzzy matching is accepted and not applied (a Warning says so).
 */
export function parseQidoParams(
  level: QueryLevel,
  scope: SearchScope,
  params: Iterable<readonly [string, string]>,
): QidoParams {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of params) {
    const list = grouped.get(name) ?? [];
    list.push(value);
    grouped.set(name, list);
  }
  const warnings: string[] = [];
  let limit = QIDO_DEFAULT_LIMIT;
  let serverLimited = true;
  let offset = 0;
  let includeFields: string[] | 'all' = [];
  const keys: MatchingKey[] = [];

  for (const [name, all] of grouped) {
    switch (name) {
      case 'limit': {
        const asked = count('limit', single(name, all), 1, Number.MAX_SAFE_INTEGER);
        serverLimited = asked > QIDO_MAX_LIMIT;
        limit = Math.min(asked, QIDO_MAX_LIMIT);
        if (serverLimited)
          warnings.push(`limit reduced to ${QIDO_MAX_LIMIT}, the maximum of this server`);
        break;
      }
      case 'offset':
        offset = count('offset', single(name, all), 0, MAX_OFFSET);
        break;
      case 'fuzzymatching': {
        const v = single(name, all);
        if (v !== 'true' && v !== 'false')
          throw new SearchError('fuzzymatching must be true or false', name);
        if (v === 'true') warnings.push('fuzzymatching not supported');
        break;
      }
      case 'includefield': {
        const ids = all.flatMap((v) => v.split(',')).map((v) => v.trim());
        if (ids.includes('all')) includeFields = 'all';
        else if (includeFields !== 'all') includeFields.push(...ids.filter((id) => id !== ''));
        break;
      }
      default:
        keys.push(attributeKey(name, all));
    }
  }
  return { request: { level, scope, keys, includeFields, limit, offset }, warnings, serverLimited };
}

function attributeKey(name: string, all: string[]): MatchingKey {
  const attr = resolveAttribute(name);
  const isUid =
    attr?.kind === 'catalog' && (attr.def.match === 'uid' || attr.def.match === 'uid-array');
  if (!isUid) return { key: name, value: single(name, all) };
  // UID list matching: repeated parameters, commas and backslashes all separate UIDs.
  const uids = all.flatMap((v) => v.split(/[,\\]/)).map((v) => v.trim());
  return { key: name, value: uids.every((u) => u === '') ? '' : uids.join('\\') };
}
