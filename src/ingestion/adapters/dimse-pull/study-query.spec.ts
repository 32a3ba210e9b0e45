import { describe, expect, it } from 'vitest';
import { dayByDay, studyMatch, studyQueries } from './study-query.js';

describe('studyQueries', () => {
  it('asks a closed StudyDate range day by day, with the return keys a pull needs', () => {
    const qs = studyQueries({ StudyDate: '20240227-20240302', ModalitiesInStudy: 'CT' }, undefined);
    expect(qs.map((q) => q['00080020']!.Value![0])).toEqual([
      '20240227',
      '20240228',
      '20240229',
      '20240301',
      '20240302',
    ]);
    expect(qs[0]).toMatchObject({
      '00080052': { vr: 'CS', Value: ['STUDY'] },
      '00080061': { vr: 'CS', Value: ['CT'] },
      '0020000D': { vr: 'UI' },
      '00201208': { vr: 'IS' },
    });
  });

  it('one query per accession number; open ranges and single dates are asked as given', () => {
    const qs = studyQueries({ StudyDate: '20200101-', PatientName: 'DOE^J*' }, ['A1', 'A2']);
    expect(qs).toHaveLength(2);
    expect(qs.map((q) => q['00080050']!.Value![0])).toEqual(['A1', 'A2']);
    expect(qs[0]!['00080020']).toEqual({ vr: 'DA', Value: ['20200101-'] });
    expect(qs[0]!['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'DOE^J*' }] });
    expect(studyQueries(undefined, [])).toHaveLength(1);
  });

  it('dayByDay refuses what is not a closed, ordered, plausible range', () => {
    expect(dayByDay('20240101')).toBeNull();
    expect(dayByDay('20240102-20240101')).toBeNull();
    expect(dayByDay('19000101-21000101')).toBeNull();
    expect(dayByDay(undefined)).toBeNull();
    expect(dayByDay('20241231-20250101')).toEqual(['20241231', '20250101']);
  });
});

describe('studyMatch', () => {
  it('reads the UID, the instance count and the SOP classes', () => {
    expect(
      studyMatch({
        '0020000D': { vr: 'UI', Value: ['1.2.3'] },
        '00201208': { vr: 'IS', Value: [12] },
        '00080062': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2', 'junk uid'] },
      }),
    ).toEqual({
      studyInstanceUid: '1.2.3',
      instances: 12,
      sopClasses: ['1.2.840.10008.5.1.4.1.1.2'],
    });
  });

  it('a match without a usable UID is skipped; a missing count is unknown', () => {
    expect(studyMatch({})).toBeNull();
    expect(studyMatch({ '0020000D': { vr: 'UI', Value: ['1.2.x'] } })).toBeNull();
    expect(studyMatch({ '0020000D': { vr: 'UI', Value: ['1.2.3'] } })).toMatchObject({
      instances: null,
      sopClasses: [],
    });
  });
});
