import { describe, expect, it } from 'vitest';
import { findKeySupport } from './find-keys.js';
import { buildPatientSearch, type PatientSearchStatement } from './patient-sql.js';
import { renderPatientRow } from './render.js';
import { buildSearch } from './search-sql.js';
import { SearchError } from './search-types.js';

function build(keys: Record<string, string>, limit: number | null = 100): PatientSearchStatement {
  return buildPatientSearch({
    keys: Object.entries(keys).map(([key, value]) => ({ key, value })),
    limit,
  });
}

/** The WHERE clause of the inner statement, the expiry filter checked and left out. */
function where(s: PatientSearchStatement): string {
  const m = /\nWHERE ([\s\S]*?)\nORDER BY/.exec(s.sql);
  const all = m ? m[1]!.replace(/\s+/g, ' ') : '';
  if (!all.startsWith('st.expired_at IS NULL')) throw new Error(`expired studies shown: ${all}`);
  return all.slice('st.expired_at IS NULL'.length).replace(/^ AND /, '');
}

describe('buildPatientSearch: matching', () => {
  it('matches on the studies’ indexed patient columns, with the study search’s rules', () => {
    expect(where(build({ PatientID: 'P-1' }))).toBe('st.patient_id = $1');
    expect(where(build({ PatientName: 'mül*' }))).toBe(
      "upper(st.patient_name) LIKE upper($1) ESCAPE '\\'",
    );
    expect(where(build({ PatientBirthDate: '19600101-19691231', PatientSex: 'F' }))).toBe(
      'st.patient_birth_date BETWEEN $1 AND $2 AND st.patient_sex = $3',
    );
    expect(where(build({ '00100021': 'HOSP' }))).toBe('st.issuer_of_patient_id = $1');
  });

  it('an empty value or a lone * is universal matching, and the key is still returned', () => {
    const s = build({ PatientName: '', PatientID: '*' });
    expect(where(s)).toBe('');
    expect(s.fields.map((f) => f.tag)).toEqual(['00100010', '00100020']);
  });

  it('hides expired studies, so a patient with only expired studies is not found', () => {
    expect(build({}).sql).toContain('WHERE st.expired_at IS NULL');
    expect(build({ NumberOfPatientRelatedStudies: '' }).sql).toContain(
      'FROM studies s WHERE s.patient_fk = q._pt_id AND s.expired_at IS NULL',
    );
  });

  it('refuses keys of other levels, and matching on counters, naming the key only', () => {
    expect(() => build({ StudyDate: '20240101' })).toThrow(SearchError);
    expect(() => build({ StudyDate: '20240101' })).toThrow(
      'StudyDate is not a key at the patient level',
    );
    expect(() => build({ NumberOfPatientRelatedStudies: '3' })).toThrow(/can be returned but not/);
    expect(() => build({ PatientBirthDate: 'yesterday' })).toThrow(SearchError);
  });
});

describe('buildPatientSearch: statement', () => {
  it('one row per patient (the latest matching study), limited before the counters', () => {
    const s = build({ PatientID: 'P-1', PatientName: '' }, 10);
    expect(s.sql).toContain('SELECT DISTINCT ON (st.patient_fk)');
    expect(s.sql).toMatch(/ORDER BY st\.patient_fk, st\.id DESC\nLIMIT \$2$/);
    expect(s.sql).not.toContain('LATERAL');
    expect(s.params).toEqual(['P-1', 10]);
    expect(build({}, null).sql).not.toContain('LIMIT');
  });

  it('counters come from every visible study of the patient, not only the matching ones', () => {
    const s = build({ PatientID: 'P-1', NumberOfPatientRelatedInstances: '', '00201200': '' });
    expect(s.sql).toMatch(/LIMIT \$2\n\) q\nLEFT JOIN LATERAL/);
    expect(s.fields).toEqual([
      { tag: '00100020', vr: 'LO', source: { kind: 'column', render: 'text' } },
      { tag: '00201200', vr: 'IS', source: { kind: 'column', render: 'number' } },
      { tag: '00201204', vr: 'IS', source: { kind: 'column', render: 'number' } },
    ]);
  });

  it('generated SQL (snapshots)', () => {
    const s = build({
      PatientName: 'Doe^J*',
      PatientID: '',
      PatientBirthDate: '',
      NumberOfPatientRelatedStudies: '',
      NumberOfPatientRelatedSeries: '',
      NumberOfPatientRelatedInstances: '',
    });
    expect(s.sql).toMatchSnapshot();
    expect(s.params).toMatchSnapshot();
    expect(build({ PatientID: 'P-1', PatientSex: '' }).sql).toMatchSnapshot();
  });

  it('rows render as DICOM JSON, counts as numbers, PN as Alphabetic', () => {
    const s = build({ PatientName: '', PatientID: '', NumberOfPatientRelatedStudies: '' });
    expect(
      renderPatientRow(
        { _pt_id: '7', '00100010': 'Doe^John', '00100020': null, '00201200': '2' },
        s,
      ),
    ).toEqual({
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] },
      '00100020': { vr: 'LO' },
      '00201200': { vr: 'IS', Value: [2] },
    });
  });
});

describe('buildSearch without default fields (C-FIND)', () => {
  it('returns only the keys asked for', () => {
    const s = buildSearch({
      level: 'instance',
      keys: [{ key: 'SOPInstanceUID', value: '' }],
      limit: 10,
      offset: 0,
      defaultFields: false,
    });
    expect(s.fields.map((f) => f.tag)).toEqual(['00080018']);
    expect(s.sql).not.toContain('LATERAL');
  });
});

describe('findKeySupport', () => {
  it('patient level: patient columns match, counters are returned, the rest is unsupported', () => {
    expect(findKeySupport('patient', '00100010')).toEqual({
      kind: 'matching',
      keyword: 'PatientName',
      vr: 'PN',
    });
    expect(findKeySupport('patient', '00201202')).toEqual({
      kind: 'return',
      keyword: 'NumberOfPatientRelatedSeries',
      vr: 'IS',
    });
    expect(findKeySupport('patient', '00080020')).toEqual({
      kind: 'unsupported',
      keyword: 'StudyDate',
    });
    expect(findKeySupport('patient', '00101010').kind).toBe('unsupported');
  });

  it('other levels: columns of the level and above match; lower levels are unsupported', () => {
    expect(findKeySupport('series', '00100020').kind).toBe('matching');
    expect(findKeySupport('series', '00080060').kind).toBe('matching');
    expect(findKeySupport('study', '00080060')).toEqual({
      kind: 'unsupported',
      keyword: 'Modality',
    });
    expect(findKeySupport('study', '00080018').kind).toBe('unsupported');
    expect(findKeySupport('instance', '00083002').kind).toBe('matching');
  });

  it('counters and stored-metadata attributes are return keys; computed and private ones are not', () => {
    expect(findKeySupport('study', '00201208')).toEqual({
      kind: 'return',
      keyword: 'NumberOfStudyRelatedInstances',
      vr: 'IS',
    });
    expect(findKeySupport('study', '00101010')).toEqual({
      kind: 'return',
      keyword: 'PatientAge',
      vr: 'AS',
    });
    expect(findKeySupport('study', '00321060')).toEqual({
      kind: 'return',
      keyword: null,
      vr: null,
    });
    expect(findKeySupport('study', '00081190').kind).toBe('unsupported'); // RetrieveURL
    expect(findKeySupport('study', '00080005').kind).toBe('unsupported');
    expect(findKeySupport('study', '00191010').kind).toBe('unsupported');
    expect(findKeySupport('study', '00201200').kind).toBe('unsupported');
  });
});
