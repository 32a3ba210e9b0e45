/**
 * The catalog's search input, shared by QIDO-RS and (later) C-FIND: a level, an optional scope
 * from the URL, and a list of matching keys exactly as DICOM identifiers carry them. A key with an
 * empty value is a return key (universal match); any other value is matched per PS3.4 C.2.2.2.
 */
export type QueryLevel = 'study' | 'series' | 'instance';

export interface MatchingKey {
  /** A keyword ('PatientName') or a tag ('00100010', any case). */
  key: string;
  /** '' for universal matching. Multiple values are '\\'-separated, as in a C-FIND identifier. */
  value: string;
}

/** The UIDs a QIDO URL fixes: /studies/{study}/series, /studies/{study}/series/{series}/instances. */
export interface SearchScope {
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}

export interface SearchRequest {
  level: QueryLevel;
  scope?: SearchScope;
  keys: readonly MatchingKey[];
  /** Extra attributes to return (keywords or tags), or 'all' for every attribute available. */
  includeFields?: readonly string[] | 'all';
  /**
   * Whether the level's default attributes (PS3.18 10.6.3) are returned too; default true. C-FIND
   * sets false: its responses hold exactly the keys of its identifier.
   */
  defaultFields?: boolean;
  /** null: no limit. */
  limit: number | null;
  offset: number;
  /**
   * Only instances recorded under this source (at least one version of each came from it), and
   * the studies and series that hold such instances: what a pacs token may see (README: Access).
   */
  fromSource?: string;
}

/**
 * A search the caller got wrong: unknown or unsupported key, malformed value, invalid UID. The
 * message names the key, never a value (values can be patient names).
 */
export class SearchError extends Error {
  override readonly name = 'SearchError';

  constructor(
    message: string,
    /** The offending query key or parameter, as the caller wrote it. */
    readonly key?: string,
  ) {
    super(message);
  }
}
