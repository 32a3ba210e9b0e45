import { describe, expect, it } from 'vitest';
import { buildSearch, type SearchStatement } from './search-sql.js';
import {
  type MatchingKey,
  type QueryLevel,
  type SearchRequest,
  SearchError,
} from './search-types.js';

function build(
  level: QueryLevel,
  keys: Record<string, string> | MatchingKey[],
  extra: Partial<SearchRequest> = {},
): SearchStatement {
  const list = Array.isArray(keys)
    ? keys
    : Object.entries(keys).map(([key, value]) => ({ key, value }));
  return buildSearch({ level, keys: list, limit: 100, offset: 0, ...extra });
}

const NOT_EXPIRED = 'st.expired_at IS NULL';

/** The WHERE clause of the (inner) statement, for asserting conditions (the expiry filter aside). */
function where(s: SearchStatement): string {
  const m = /\nWHERE ([\s\S]*?)\nORDER BY/.exec(s.sql);
  const all = m ? m[1]!.replace(/\s+/g, ' ') : '';
  if (!all.startsWith(NOT_EXPIRED)) throw new Error(`expired studies are not filtered: ${all}`);
  return all.slice(NOT_EXPIRED.length).replace(/^ AND /, '');
}

const UID1 = '1.2.840.113619.2.55.3.1';
const UID2 = '1.2.840.113619.2.55.3.2';

describe('buildSearch: single value matching', () => {
  it('compares a string attribute exactly, through a parameter', () => {
    const s = build('study', { PatientID: 'PID-7' });
    expect(where(s)).toBe('st.patient_id = $1');
    expect(s.params).toEqual(['PID-7', 100]);
  });

  it('accepts a tag instead of a keyword, in any case', () => {
    expect(where(build('study', { '00100020': 'X' }))).toBe('st.patient_id = $1');
    expect(where(build('study', { '0020000d': UID1 }))).toBe('st.study_instance_uid = $1');
  });

  it('never puts a value into the SQL text', () => {
    const evil = "x'; DROP TABLE studies; --";
    const s = build('study', { PatientID: evil, AccessionNumber: `${evil}*` });
    expect(s.sql).not.toContain('DROP');
    expect(s.params).toContain(evil);
  });

  it('matches integers as numbers and rejects non-integers', () => {
    const s = build('series', { SeriesNumber: '3' });
    expect(where(s)).toBe('se.series_number = $1');
    expect(s.params[0]).toBe(3);
    expect(() => build('series', { SeriesNumber: 'three' })).toThrow(
      /SeriesNumber must be an integer/,
    );
    expect(() => build('instance', { Rows: '99999999999' })).toThrow(SearchError);
  });
});

describe('buildSearch: UID list matching', () => {
  it('one UID is an equality, several are = ANY of an array parameter', () => {
    expect(where(build('study', { StudyInstanceUID: UID1 }))).toBe('st.study_instance_uid = $1');
    const s = build('study', { StudyInstanceUID: `${UID1}\\${UID2}` });
    expect(where(s)).toBe('st.study_instance_uid = ANY($1::text[])');
    expect(s.params[0]).toEqual([UID1, UID2]);
  });

  it('rejects an invalid UID, naming the key and not the value', () => {
    for (const bad of ['1.2.03', 'abc', `${UID1}\\1..2`, '1.2.*']) {
      let error: unknown;
      try {
        build('study', { StudyInstanceUID: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SearchError);
      expect((error as SearchError).key).toBe('StudyInstanceUID');
      expect((error as Error).message).toBe('StudyInstanceUID contains an invalid UID');
    }
  });

  it('rejects an invalid UID in the URL scope', () => {
    expect(() => build('series', {}, { scope: { studyInstanceUid: '1.02' } })).toThrow(
      /in the URL is not a valid UID/,
    );
  });

  it('matches SOPClassesInStudy by overlap with the array column', () => {
    expect(where(build('study', { SOPClassesInStudy: UID1 }))).toBe(
      'st.sop_classes_in_study && $1::text[]',
    );
  });
});

describe('buildSearch: wildcard matching', () => {
  it('* and ? become a LIKE with an explicit escape character', () => {
    const s = build('study', { AccessionNumber: 'A?C*' });
    expect(where(s)).toBe("st.accession_number LIKE $1 ESCAPE '\\'");
    expect(s.params[0]).toBe('A_C%');
  });

  it('escapes % _ and \\ in the user value so they match literally', () => {
    const s = build('study', { StudyDescription: '50%_off*' });
    expect(s.params[0]).toBe('50\\%\\_off%');
    const plain = build('study', { StudyDescription: '50%_off' });
    // Without a wildcard there is no LIKE at all: % and _ are compared as they are.
    expect(where(plain)).toBe('st.study_description = $1');
    expect(plain.params[0]).toBe('50%_off');
  });

  it('* alone is universal matching (no condition)', () => {
    expect(where(build('study', { PatientName: '*', AccessionNumber: '*' }))).toBe('');
  });

  it('multiple values are ORed', () => {
    const s = build('series', { Modality: 'CT\\M?' });
    expect(where(s)).toBe("(se.modality = $1 OR se.modality LIKE $2 ESCAPE '\\')");
    expect(() => build('series', { Modality: 'CT\\' })).toThrow(/empty value/);
  });
});

describe('buildSearch: PN is case-insensitive', () => {
  it('upper() on both sides, matching the upper(patient_name) index', () => {
    const s = build('study', { PatientName: 'müller^hans' });
    expect(where(s)).toBe('upper(st.patient_name) = upper($1)');
    expect(s.params[0]).toBe('müller^hans');
  });

  it('wildcards keep the prefix form the text_pattern_ops index serves', () => {
    const s = build('study', { PatientName: 'doe*' });
    expect(where(s)).toBe("upper(st.patient_name) LIKE upper($1) ESCAPE '\\'");
    expect(s.params[0]).toBe('doe%');
  });

  it('non-PN strings stay case-sensitive', () => {
    expect(where(build('study', { PatientID: 'abc' }))).toBe('st.patient_id = $1');
  });
});

describe('buildSearch: range matching', () => {
  it('DA: single, closed, open start, open end', () => {
    expect(where(build('study', { StudyDate: '20240115' }))).toBe('st.study_date = $1');
    const closed = build('study', { StudyDate: '20240101-20240131' });
    expect(where(closed)).toBe('st.study_date BETWEEN $1 AND $2');
    expect(closed.params.slice(0, 2)).toEqual(['20240101', '20240131']);
    expect(where(build('study', { StudyDate: '-20240131' }))).toBe('st.study_date <= $1');
    expect(where(build('study', { StudyDate: '20240101-' }))).toBe('st.study_date >= $1');
    expect(() => build('study', { PatientBirthDate: '1970-' })).toThrow(SearchError);
  });

  it('TM compares normalised stored times with normalised bounds', () => {
    const s = build('study', { StudyTime: '0800-1200' });
    expect(where(s)).toMatch(
      /^\(rpad\(split_part\(replace\(st\.study_time, ':', ''\), '\.', 1\), 6, '0'\).* BETWEEN \$1 AND \$2$/,
    );
    expect(s.params.slice(0, 2)).toEqual(['080000.000000', '120059.999999']);
  });

  it('TM across midnight ORs the two halves', () => {
    const s = build('study', { StudyTime: '2200-0200' });
    expect(where(s)).toMatch(/ >= \$1 OR .* <= \$2\)$/);
  });

  it('DT ranges on AcquisitionDateTime (instance level, from the stored metadata)', () => {
    const s = build('instance', { AcquisitionDateTime: '20240115-20240116' });
    expect(where(s)).toContain("v.metadata #>> '{0008002A,Value,0}'");
    expect(s.params.slice(0, 2)).toEqual(['20240115000000.000000', '20240116235959.999999']);
  });

  it('StudyDate and StudyTime ranges are applied independently', () => {
    const s = build('study', { StudyDate: '20240101-20240102', StudyTime: '2300-' });
    expect(where(s)).toMatch(/^st\.study_date BETWEEN \$1 AND \$2 AND .* >= \$3$/);
  });
});

describe('buildSearch: ModalitiesInStudy', () => {
  it('uses array containment (GIN index) for one value, overlap for several', () => {
    expect(where(build('study', { ModalitiesInStudy: 'CT' }))).toBe(
      'st.modalities_in_study @> ARRAY[$1::text]',
    );
    const s = build('study', { ModalitiesInStudy: 'CT\\MR' });
    expect(where(s)).toBe('st.modalities_in_study && $1::text[]');
    expect(s.params[0]).toEqual(['CT', 'MR']);
  });
  it('a wildcard looks inside the array', () => {
    expect(where(build('study', { ModalitiesInStudy: 'M*' }))).toBe(
      "EXISTS (SELECT 1 FROM unnest(st.modalities_in_study) AS m(code) WHERE m.code LIKE $1 ESCAPE '\\')",
    );
  });
});

describe('buildSearch: universal matching and return keys', () => {
  it('an empty value adds no condition but returns the attribute', () => {
    const s = build('study', { StudyDescription: '' });
    expect(where(s)).toBe('');
    expect(s.fields.map((f) => f.tag)).toContain('00081030');
    expect(s.sql).toContain('st.study_description AS "00081030"');
  });

  it('counts are return keys only', () => {
    expect(
      build('study', { NumberOfStudyRelatedInstances: '' }).fields.map((f) => f.tag),
    ).toContain('00201208');
    expect(() => build('study', { NumberOfStudyRelatedInstances: '3' })).toThrow(
      /can be returned but not matched/,
    );
  });

  it('SpecificCharacterSet is accepted and not matched', () => {
    expect(where(build('study', { SpecificCharacterSet: 'ISO_IR 100' }))).toBe('');
  });

  it('returns the PS3.18 attributes of each level by default', () => {
    const tags = (s: SearchStatement) => s.fields.map((f) => f.tag);
    expect(tags(build('study', {}))).toEqual([
      '00080005',
      '00080020',
      '00080030',
      '00080050',
      '00080061',
      '00080090',
      '00081190',
      '00100010',
      '00100020',
      '00100030',
      '00100040',
      '0020000D',
      '00200010',
      '00201206',
      '00201208',
    ]);
    const inStudy = tags(build('series', {}, { scope: { studyInstanceUid: UID1 } }));
    expect(inStudy).toEqual([
      '00080005',
      '00080060',
      '0008103E',
      '00081190',
      '0020000D',
      '0020000E',
      '00200011',
      '00201209',
      '00400244',
      '00400245',
    ]);
    // Across studies, the study attributes come too.
    expect(tags(build('series', {}))).toEqual(
      expect.arrayContaining(['00100010', '00201208', '00201209']),
    );
    const instances = tags(
      build('instance', {}, { scope: { studyInstanceUid: UID1, seriesInstanceUid: UID2 } }),
    );
    expect(instances).toEqual([
      '00080005',
      '00080016',
      '00080018',
      '00081190',
      '00083002',
      '0020000D',
      '0020000E',
      '00200013',
      '00280008',
      '00280010',
      '00280011',
      '00280100',
    ]);
  });
});

describe('buildSearch: levels', () => {
  it('study searches read studies only', () => {
    expect(build('study', { PatientName: 'A*', ModalitiesInStudy: 'CT' }).sql).toMatch(
      /FROM studies st\nWHERE/,
    );
  });
  it('series and instance attributes are not matching keys at the study level', () => {
    expect(() => build('study', { Modality: 'CT' })).toThrow(
      'Modality is not a matching key at the study level',
    );
    expect(() => build('series', { SOPInstanceUID: UID1 })).toThrow(
      /not a matching key at the series level/,
    );
  });
  it('higher-level keys match on lower-level searches (relational)', () => {
    expect(where(build('instance', { PatientID: 'P1', Modality: 'CT', SOPClassUID: UID1 }))).toBe(
      'st.patient_id = $1 AND se.modality = $2 AND i.sop_class_uid = $3',
    );
  });
  it('the URL scope becomes conditions', () => {
    const s = build(
      'instance',
      { InstanceNumber: '2' },
      { scope: { studyInstanceUid: UID1, seriesInstanceUid: UID2 } },
    );
    expect(where(s)).toBe(
      'st.study_instance_uid = $1 AND se.series_instance_uid = $2 AND i.instance_number = $3',
    );
  });
});

describe('buildSearch: includefield', () => {
  it('a catalog attribute by keyword or tag is selected from its column', () => {
    const s = build('study', {}, { includeFields: ['StudyDescription', '00080080'] });
    expect(s.sql).toContain('st.study_description AS "00081030"');
    expect(s.sql).toContain('st.institution_name AS "00080080"');
    expect(s.sql).not.toContain('LATERAL');
  });

  it('other attributes come from one instance metadata through a LATERAL join after LIMIT', () => {
    const s = build('study', {}, { includeFields: ['00081090', 'Modality'] });
    expect(s.sql).toContain(`m.metadata -> '00081090' AS "m00081090"`);
    expect(s.sql).toContain(`m.metadata -> '00080060' AS "m00080060"`);
    expect(s.sql).toMatch(/LIMIT \$1\n\) q\nLEFT JOIN LATERAL/);
    expect(s.fields.find((f) => f.tag === '00081090')).toMatchObject({
      vr: 'LO',
      source: { kind: 'metadata' },
    });
    // A tag outside the built-in list has no known VR: returned only if present.
    expect(
      build('study', {}, { includeFields: ['00191010'] }).fields.find((f) => f.tag === '00191010')
        ?.vr,
    ).toBeNull();
  });

  it('all: every column of the joined tables, and at instance level the whole metadata', () => {
    const study = build('study', {}, { includeFields: 'all' });
    expect(study.fields.map((f) => f.tag)).toEqual(
      expect.arrayContaining(['00081030', '00080062', '00100021']),
    );
    expect(study.allMetadata).toBe(false);
    const inst = build('instance', {}, { includeFields: 'all' });
    expect(inst.allMetadata).toBe(true);
    expect(inst.sql).toContain('m.metadata AS _metadata');
  });

  it('an unknown keyword, or a sequence path, is an error naming includefield', () => {
    expect(() => build('study', {}, { includeFields: ['NoSuchKeyword'] })).toThrow(
      'includefield NoSuchKeyword is not a known attribute',
    );
    expect(() => build('study', {}, { includeFields: ['00400275.00321060'] })).toThrow(SearchError);
    expect(() => build('study', {}, { includeFields: ['00020010'] })).toThrow(SearchError);
  });
});

describe('buildSearch: errors', () => {
  it('an unknown key', () => {
    expect(() => build('study', { Foo: 'x' })).toThrow('Foo is not a known query key');
  });
  it('a metadata-only attribute cannot be matched', () => {
    expect(() => build('study', { Manufacturer: 'ACME' })).toThrow(
      'Manufacturer is not supported as a matching key',
    );
    expect(() => build('study', { Manufacturer: '' })).not.toThrow();
  });
  it('sequence matching', () => {
    expect(() => build('study', { '00400275.00321060': 'x' })).toThrow(
      /sequence attributes is not supported/,
    );
  });
  it('an over-long value', () => {
    expect(() => build('study', { PatientID: 'x'.repeat(5000) })).toThrow(/longer than/);
  });
});

describe('buildSearch: paging and order', () => {
  it('limit and offset are parameters; no limit for C-FIND', () => {
    const s = build('study', {}, { limit: 10, offset: 20 });
    expect(s.sql).toMatch(/LIMIT \$1\nOFFSET \$2$/);
    expect(s.params).toEqual([10, 20]);
    expect(build('study', {}, { limit: null }).sql).not.toContain('LIMIT');
  });
  it('orders stably, ending with the row id', () => {
    expect(build('study', {}).sql).toContain('ORDER BY st.study_date, st.study_time, st.id');
    expect(build('instance', {}).sql).toContain(
      'ORDER BY st.study_date, st.study_time, st.id, se.series_number, se.id, i.instance_number, i.id',
    );
  });
});

describe('buildSearch: generated SQL (snapshots)', () => {
  it('study search by patient name, date range and modality', () => {
    const s = build('study', {
      PatientName: 'Mül*',
      StudyDate: '20240101-20240131',
      ModalitiesInStudy: 'CT',
    });
    expect(s.sql).toMatchSnapshot();
    expect(s.params).toMatchSnapshot();
  });

  it('series search across studies with includefield from metadata', () => {
    const s = build(
      'series',
      { Modality: 'MR', PatientID: 'P1' },
      { includeFields: ['Manufacturer'], offset: 5 },
    );
    expect(s.sql).toMatchSnapshot();
    expect(s.params).toMatchSnapshot();
  });

  it('instance search within a series', () => {
    const s = build(
      'instance',
      { SOPClassUID: `${UID1}\\${UID2}` },
      { scope: { studyInstanceUid: UID1, seriesInstanceUid: UID2 } },
    );
    expect(s.sql).toMatchSnapshot();
    expect(s.params).toMatchSnapshot();
  });
});
