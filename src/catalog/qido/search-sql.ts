import { isValidUid } from '../../dicom/index.js';
import {
  type AttributeDef,
  catalogAttribute,
  catalogAttributes,
  DEFAULT_RETURN,
  isJoined,
  resolveAttribute,
} from './attributes.js';
import { matchCondition, SqlParams } from './matching.js';
import { type QueryLevel, type SearchRequest, SearchError } from './search-types.js';

/** Where a returned attribute's value comes from in a result row. */
export type FieldSource =
  /** A catalog column, selected AS "<tag>". */
  | { kind: 'column'; render: 'text' | 'pn' | 'number' | 'array' }
  /** The element from the stored metadata (of the instance, or of one instance of the study/series), AS "m<tag>". */
  | { kind: 'metadata' }
  | { kind: 'retrieve-url' }
  | { kind: 'charset' };

export interface ReturnField {
  tag: string;
  /** null when only the stored metadata knows it (an attribute asked for by tag). */
  vr: string | null;
  source: FieldSource;
}

export interface SearchStatement {
  level: QueryLevel;
  sql: string;
  params: unknown[];
  /** What each row renders to, in tag order. */
  fields: ReturnField[];
  /** includefield=all at instance level: the whole stored metadata is selected AS _metadata. */
  allMetadata: boolean;
}

const FROM: Record<QueryLevel, string> = {
  study: 'studies st',
  series: 'series se\n  JOIN studies st ON st.id = se.study_fk',
  instance:
    'instances i\n  JOIN series se ON se.id = i.series_fk\n  JOIN studies st ON st.id = i.study_fk\n' +
    '  JOIN instance_versions v ON v.id = i.current_version_fk',
};

/** Stable order: by study date and time, then series and instance numbers; ids break ties. */
const ORDER: Record<QueryLevel, string[]> = {
  study: ['st.study_date', 'st.study_time', 'st.id'],
  series: ['st.study_date', 'st.study_time', 'st.id', 'se.series_number', 'se.id'],
  instance: [
    'st.study_date',
    'st.study_time',
    'st.id',
    'se.series_number',
    'se.id',
    'i.instance_number',
    'i.id',
  ],
};

/** Internal columns every row carries: UIDs for RetrieveURL, ids for the metadata join. */
const KEYS: Record<QueryLevel, string[]> = {
  study: ['st.id AS _st_id', 'st.study_instance_uid AS _study_uid'],
  series: [
    'se.id AS _se_id',
    'st.study_instance_uid AS _study_uid',
    'se.series_instance_uid AS _series_uid',
  ],
  instance: [
    'v.id AS _v_id',
    'st.study_instance_uid AS _study_uid',
    'se.series_instance_uid AS _series_uid',
    'i.sop_instance_uid AS _sop_uid',
  ],
};

/** One stored metadata per result row: the instance's own, or the first instance's of the study or series. */
const METADATA_JOIN: Record<QueryLevel, string> = {
  study:
    'LEFT JOIN LATERAL (\n  SELECT mv.metadata FROM instances mi JOIN instance_versions mv ON mv.id = mi.current_version_fk\n' +
    '  WHERE mi.study_fk = q._st_id ORDER BY mi.id LIMIT 1\n) m ON true',
  series:
    'LEFT JOIN LATERAL (\n  SELECT mv.metadata FROM instances mi JOIN instance_versions mv ON mv.id = mi.current_version_fk\n' +
    '  WHERE mi.series_fk = q._se_id ORDER BY mi.id LIMIT 1\n) m ON true',
  instance:
    'LEFT JOIN LATERAL (SELECT mv.metadata FROM instance_versions mv WHERE mv.id = q._v_id) m ON true',
};

/**
 * A source's part of the catalog: instances of which at least one version was recorded under it,
 * and the series and studies holding one. (Study and series attributes computed over all their
 * instances, such as NumberOfStudyRelatedInstances, still count the others.)
 */
const FROM_SOURCE: Record<QueryLevel, (param: string) => string> = {
  study: (p) =>
    `EXISTS (SELECT 1 FROM instances fi JOIN instance_versions fv ON fv.instance_fk = fi.id\n` +
    `    WHERE fi.study_fk = st.id AND fv.source = ${p})`,
  series: (p) =>
    `EXISTS (SELECT 1 FROM instances fi JOIN instance_versions fv ON fv.instance_fk = fi.id\n` +
    `    WHERE fi.series_fk = se.id AND fv.source = ${p})`,
  instance: (p) =>
    `EXISTS (SELECT 1 FROM instance_versions fv WHERE fv.instance_fk = i.id AND fv.source = ${p})`,
};

function renderOf(def: AttributeDef): 'text' | 'pn' | 'number' | 'array' {
  if (def.match === 'code-array' || def.match === 'uid-array') return 'array';
  if (def.vr === 'PN') return 'pn';
  if (def.vr === 'IS' || def.vr === 'US') return 'number';
  return 'text';
}

/** Tag strings are validated hex, but they are quoted into SQL, so check again here. */
function sqlTag(tag: string): string {
  if (!/^[0-9A-F]{8}$/.test(tag)) throw new Error(`not a tag: ${tag}`);
  return tag;
}

/**
 * Builds the one parameterised statement that answers a search (QIDO-RS, and C-FIND at the
 * study, series and image levels; patient-sql.ts has the patient level). Matching keys become
 * WHERE conditions (see matching.ts); return attributes come from catalog columns where there is
 * one, else from the stored metadata through one LATERAL join, applied after LIMIT so that it
 * costs one lookup per returned row. Throws SearchError for what the caller got wrong.
 */
export function buildSearch(req: SearchRequest): SearchStatement {
  const level = req.level;
  const params = new SqlParams();
  const where: string[] = [];
  const returned = new Map<string, { vr: string | null; def: AttributeDef | null }>();
  const addReturn = (tag: string, vr: string | null, def: AttributeDef | null) => {
    if (!returned.has(tag)) returned.set(tag, { vr, def });
  };

  // Expired studies (retention ended, or deleted on request) are hidden until they are purged.
  where.push('st.expired_at IS NULL');
  const scope = req.scope ?? {};
  for (const [keyword, uid] of [
    ['StudyInstanceUID', scope.studyInstanceUid],
    ['SeriesInstanceUID', scope.seriesInstanceUid],
  ] as const) {
    if (uid === undefined) continue;
    if (!isValidUid(uid))
      throw new SearchError(`the ${keyword} in the URL is not a valid UID`, keyword);
    const def = catalogAttribute(keyword === 'StudyInstanceUID' ? '0020000D' : '0020000E');
    where.push(`${def.column} = ${params.add(uid)}`);
  }

  if (req.fromSource !== undefined) where.push(FROM_SOURCE[level](params.add(req.fromSource)));

  for (const { key, value } of req.keys) {
    if (key.includes('.')) {
      throw new SearchError(`${key}: matching on sequence attributes is not supported`, key);
    }
    const attr = resolveAttribute(key);
    if (!attr) throw new SearchError(`${key} is not a known query key`, key);
    if (attr.kind === 'metadata') {
      if (value !== '') throw new SearchError(`${key} is not supported as a matching key`, key);
      addReturn(attr.tag, attr.vr, null);
      continue;
    }
    const def = attr.def;
    if (value !== '' && !isJoined(def.level, level) && def.match !== 'ignored') {
      throw new SearchError(`${key} is not a matching key at the ${level} level`, key);
    }
    const condition = isJoined(def.level, level) ? matchCondition(def, value, params, key) : null;
    if (condition) where.push(condition);
    addReturn(def.tag, def.vr, def);
  }

  const include = req.includeFields ?? [];
  const all = include === 'all';
  if (all) {
    for (const def of catalogAttributes())
      if (isJoined(def.level, level)) addReturn(def.tag, def.vr, def);
  } else {
    for (const id of include) {
      const attr = resolveAttribute(id);
      if (!attr || id.includes('.'))
        throw new SearchError(`includefield ${id} is not a known attribute`, 'includefield');
      if (attr.kind === 'catalog') addReturn(attr.def.tag, attr.def.vr, attr.def);
      else addReturn(attr.tag, attr.vr, null);
    }
  }

  // Defaults of the level, of the levels above when the URL does not fix them, and parent UIDs.
  const defaults: string[] = [];
  if (req.defaultFields !== false) {
    defaults.push(...DEFAULT_RETURN[level]);
    if (level !== 'study') defaults.push('0020000D');
    if (level !== 'study' && !scope.studyInstanceUid) defaults.push(...DEFAULT_RETURN.study);
    if (level === 'instance') defaults.push('0020000E');
    if (level === 'instance' && !scope.seriesInstanceUid) defaults.push(...DEFAULT_RETURN.series);
  }
  for (const tag of defaults) {
    const attr = resolveAttribute(tag)!;
    if (attr.kind === 'catalog') addReturn(tag, attr.def.vr, attr.def);
    else addReturn(tag, attr.vr, null);
  }

  const fields: ReturnField[] = [];
  const columns: string[] = [...KEYS[level]];
  const metadataColumns: string[] = [];
  for (const tag of [...returned.keys()].sort()) {
    const { vr, def } = returned.get(tag)!;
    if (def?.computed) {
      fields.push({ tag, vr, source: { kind: def.computed } });
    } else if (def?.column && isJoined(def.level, level)) {
      fields.push({ tag, vr, source: { kind: 'column', render: renderOf(def) } });
      columns.push(`${def.column} AS "${sqlTag(tag)}"`);
    } else {
      fields.push({ tag, vr, source: { kind: 'metadata' } });
      metadataColumns.push(`m.metadata -> '${sqlTag(tag)}' AS "m${tag}"`);
    }
  }
  const allMetadata = all && level === 'instance';
  if (allMetadata) metadataColumns.push('m.metadata AS _metadata');

  const order = ORDER[level];
  const wrap = metadataColumns.length > 0;
  if (wrap) columns.push(...order.map((expr, n) => `${expr} AS _k${n}`));
  const page: string[] = [];
  if (req.limit !== null) page.push(`LIMIT ${params.add(req.limit)}`);
  if (req.offset > 0) page.push(`OFFSET ${params.add(req.offset)}`);

  const inner = [
    `SELECT ${columns.join(',\n  ')}`,
    `FROM ${FROM[level]}`,
    ...(where.length ? [`WHERE ${where.join('\n  AND ')}`] : []),
    `ORDER BY ${order.join(', ')}`,
    ...page,
  ].join('\n');
  const sql = wrap
    ? [
        `SELECT q.*,\n  ${metadataColumns.join(',\n  ')}`,
        `FROM (\n${inner}\n) q`,
        METADATA_JOIN[level],
        `ORDER BY ${order.map((_, n) => `q._k${n}`).join(', ')}`,
      ].join('\n')
    : inner;
  return { level, sql, params: params.values, fields, allMetadata };
}
