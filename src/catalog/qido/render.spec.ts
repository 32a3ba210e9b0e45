import { describe, expect, it } from 'vitest';
import { renderSearchRow } from './render.js';
import { buildSearch } from './search-sql.js';

const BASE = 'http://vna.test/dicomweb';

describe('renderSearchRow', () => {
  it('renders a study row as DICOM JSON with PS3.18 value types', () => {
    const statement = buildSearch({
      level: 'study',
      keys: [{ key: 'StudyDescription', value: '' }],
      limit: 10,
      offset: 0,
    });
    const row = {
      _st_id: '1',
      _study_uid: '1.2.3',
      '00080020': '20240115',
      '00080030': null,
      '00080050': '',
      '00080061': ['CT', 'SR'],
      '00080090': null,
      '00081030': 'Thorax',
      '00100010': 'Müller^Hans',
      '00100020': 'P1',
      '00100030': '19700101',
      '00100040': 'M',
      '0020000D': '1.2.3',
      '00200010': '1',
      '00201206': 2,
      '00201208': 7,
    };
    const json = renderSearchRow(row, statement, BASE);
    expect(json).toEqual({
      '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
      '00080020': { vr: 'DA', Value: ['20240115'] },
      '00080030': { vr: 'TM' },
      '00080050': { vr: 'SH' },
      '00080061': { vr: 'CS', Value: ['CT', 'SR'] },
      '00080090': { vr: 'PN' },
      '00081030': { vr: 'LO', Value: ['Thorax'] },
      '00081190': { vr: 'UR', Value: [`${BASE}/studies/1.2.3`] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller^Hans' }] },
      '00100020': { vr: 'LO', Value: ['P1'] },
      '00100030': { vr: 'DA', Value: ['19700101'] },
      '00100040': { vr: 'CS', Value: ['M'] },
      '0020000D': { vr: 'UI', Value: ['1.2.3'] },
      '00200010': { vr: 'SH', Value: ['1'] },
      '00201206': { vr: 'IS', Value: [2] },
      '00201208': { vr: 'IS', Value: [7] },
    });
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
  });

  it('instance rows: RetrieveURL of the instance, metadata values, bulk data URLs', () => {
    const statement = buildSearch({
      level: 'instance',
      scope: { studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4' },
      keys: [],
      includeFields: ['00091001', 'Manufacturer', '00282000'],
      limit: 10,
      offset: 0,
    });
    const row = {
      _study_uid: '1.2.3',
      _series_uid: '1.2.3.4',
      _sop_uid: '1.2.3.4.5',
      '00280010': 512,
      m00280100: { vr: 'US', Value: [16] },
      m00091001: null,
      m00080070: null,
      m00282000: { vr: 'OB', BulkDataURI: '' },
    };
    const json = renderSearchRow(row, statement, BASE);
    const url = `${BASE}/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5`;
    expect(json['00081190']).toEqual({ vr: 'UR', Value: [url] });
    expect(json['00280010']).toEqual({ vr: 'US', Value: [512] });
    expect(json['00280100']).toEqual({ vr: 'US', Value: [16] });
    expect(json['00080070']).toEqual({ vr: 'LO' });
    expect(json['00091001']).toBeUndefined();
    expect(json['00282000']).toEqual({ vr: 'OB', BulkDataURI: `${url}/bulkdata/00282000` });
  });

  it('includefield=all at instance level merges the stored metadata under the columns', () => {
    const statement = buildSearch({
      level: 'instance',
      keys: [],
      includeFields: 'all',
      limit: 10,
      offset: 0,
    });
    const row = {
      _study_uid: '1.2.3',
      _series_uid: '1.2.3.4',
      _sop_uid: '1.2.3.4.5',
      '00200013': 4,
      _metadata: {
        '00181030': { vr: 'LO', Value: ['Protocol'] },
        '00200013': { vr: 'IS', Value: [99] },
        '7FE00010': { vr: 'OW', BulkDataURI: '' },
      },
    };
    const json = renderSearchRow(row, statement, BASE);
    expect(json['00181030']).toEqual({ vr: 'LO', Value: ['Protocol'] });
    expect(json['00200013']).toEqual({ vr: 'IS', Value: [4] });
    expect(json['7FE00010']!.BulkDataURI).toMatch(
      /\/instances\/1\.2\.3\.4\.5\/bulkdata\/7FE00010$/,
    );
  });

  it('study-level metadata values drop bulk placeholders (no instance to address)', () => {
    const statement = buildSearch({
      level: 'study',
      keys: [],
      includeFields: ['00282000'],
      limit: 10,
      offset: 0,
    });
    const json = renderSearchRow(
      { _study_uid: '1.2', m00282000: { vr: 'OB', BulkDataURI: '' } },
      statement,
      BASE,
    );
    expect(json['00282000']).toEqual({ vr: 'OB' });
  });
});
