import { type AttributeDef, resolveAttribute } from './attributes.js';
import { matchCondition, SqlParams } from './matching.js';
import { type ReturnField } from './search-sql.js';
import { type MatchingKey, SearchError } from './search-types.js';

/**
 * The patient level of C-FIND (Patient Root Query/Retrieve Information Model, PS3.4 C.6.1.1.2).
 * Patients are the studies' denormalised patient columns grouped by `patient_fk` (the catalog's
 * patient: Patient ID + Issuer): one statement on `studies`, so the patient_id and
 * upper(patient_name) indexes serve the matching, and expired studies stay hidden exactly as in
 * study searches. A patient matches when one of its visible studies does; its attributes are
 * those of the most recently received matching study.
 */

export interface PatientSearchRequest {
  /** Keys as in SearchRequest: keyword or tag, '' for a return key. */
  keys: readonly MatchingKey[];
  /** null: no limit. */
  limit: number | null;
}

export interface PatientSearchStatement {
  sql: string;
  params: unknown[];
  /** What each row renders to, in tag order (catalog columns only). */
  fields: ReturnField[];
}

/** The patient attributes the studies carry: matching and return keys. */
const PATIENT_TAGS: readonly string[] = [
  '00100010',
  '00100020',
  '00100021',
  '00100030',
  '00100040',
];

interface CountDef {
  tag: string;
  keyword: string;
  /** Aggregate over the patient's visible studies (alias s). */
  expr: string;
}

/** Return-only counters over every visible study of the patient (not only the matching ones). */
// prettier-ignore
const COUNTS: readonly CountDef[] = [
  { tag: '00201200', keyword: 'NumberOfPatientRelatedStudies', expr: 'count(*)' },
  { tag: '00201202', keyword: 'NumberOfPatientRelatedSeries', expr: 'sum(s.number_of_series)' },
  { tag: '00201204', keyword: 'NumberOfPatientRelatedInstances', expr: 'sum(s.number_of_instances)' },
];

/** What a key names at the patient level: a patient column, a counter, or nothing. */
export type PatientAttribute =
  { kind: 'column'; def: AttributeDef } | { kind: 'count'; def: CountDef };

export function resolvePatientAttribute(id: string): PatientAttribute | null {
  const count = COUNTS.find((c) => c.keyword === id || c.tag === id.toUpperCase());
  if (count) return { kind: 'count', def: count };
  const attr = resolveAttribute(id);
  if (attr?.kind === 'catalog' && PATIENT_TAGS.includes(attr.def.tag)) {
    return { kind: 'column', def: attr.def };
  }
  return null;
}

/** Tags of the patient-level counters, which no other level has. */
export const PATIENT_COUNT_TAGS: ReadonlySet<string> = new Set(COUNTS.map((c) => c.tag));

/**
 * Builds the one parameterised statement of a patient search. Matching is that of the study
 * search (matching.ts) on the same columns. Counters are computed after LIMIT, by one LATERAL
 * aggregate per returned patient. Throws SearchError for a key the patient level does not have.
 */
export function buildPatientSearch(req: PatientSearchRequest): PatientSearchStatement {
  const params = new SqlParams();
  const where = ['st.expired_at IS NULL'];
  const columns = new Map<string, AttributeDef>();
  const counts = new Map<string, CountDef>();
  for (const { key, value } of req.keys) {
    const attr = resolvePatientAttribute(key);
    if (!attr) throw new SearchError(`${key} is not a key at the patient level`, key);
    if (attr.kind === 'count') {
      if (value !== '') {
        throw new SearchError(
          `${key} can be returned but not matched: give it with an empty value`,
          key,
        );
      }
      counts.set(attr.def.tag, attr.def);
      continue;
    }
    const condition = matchCondition(attr.def, value, params, key);
    if (condition) where.push(condition);
    columns.set(attr.def.tag, attr.def);
  }

  const fields: ReturnField[] = [];
  const select = ['st.patient_fk AS _pt_id'];
  const aggregates: CountDef[] = [];
  for (const tag of [...columns.keys(), ...counts.keys()].sort()) {
    const column = columns.get(tag);
    if (column) {
      select.push(`${column.column} AS "${tag}"`);
      fields.push({ tag, vr: column.vr, source: { kind: 'column', render: renderOf(column) } });
    } else {
      aggregates.push(counts.get(tag)!);
      fields.push({ tag, vr: 'IS', source: { kind: 'column', render: 'number' } });
    }
  }
  const inner = [
    `SELECT DISTINCT ON (st.patient_fk) ${select.join(',\n  ')}`,
    'FROM studies st',
    `WHERE ${where.join('\n  AND ')}`,
    // The latest matching study of each patient gives its attributes.
    'ORDER BY st.patient_fk, st.id DESC',
    ...(req.limit !== null ? [`LIMIT ${params.add(req.limit)}`] : []),
  ].join('\n');
  const sql =
    aggregates.length === 0
      ? inner
      : [
          `SELECT q.*,\n  ${aggregates.map((a) => `c."${a.tag}"`).join(',\n  ')}`,
          `FROM (\n${inner}\n) q`,
          'LEFT JOIN LATERAL (',
          `  SELECT ${aggregates.map((a) => `${a.expr} AS "${a.tag}"`).join(', ')}`,
          '  FROM studies s WHERE s.patient_fk = q._pt_id AND s.expired_at IS NULL',
          ') c ON true',
          'ORDER BY q._pt_id',
        ].join('\n');
  return { sql, params: params.values, fields };
}

function renderOf(def: AttributeDef): 'text' | 'pn' {
  return def.vr === 'PN' ? 'pn' : 'text';
}
