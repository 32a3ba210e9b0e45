import { describe, expect, it } from 'vitest';
import { check, describe as describeCond, test as testCond, testEach } from './conditions.js';
import { type StudyFacts } from './facts.js';
import { type Condition } from './policy-model.js';
import { dur, MG, study as anyStudy } from './testing/policy-fixtures.js';

/** A screening mammogram of patient P1 (female, never read), with every fact filled in. */
function study(over: Partial<StudyFacts> = {}): StudyFacts {
  return anyStudy({
    studyInstanceUid: '1.2.3',
    studyDate: '2020-05-10',
    receivedAt: '2020-05-11T08:00:00.000Z',
    birthDate: '1975-03-01',
    modalities: ['MG'],
    bodyParts: ['BREAST'],
    sopClasses: ['1.2.840.10008.5.1.4.1.1.1.2'],
    sources: ['mammo-room'],
    callingAets: ['MAMMO1'],
    institutions: ['General Hospital'],
    studyDescription: 'Screening mammo bilateral',
    sizeBytes: 120_000_000,
    ...over,
  });
}

const TODAY = '2024-06-15';

function run(cond: Condition, s: StudyFacts = study(), patientStudies: StudyFacts[] = [s]) {
  const ctx = { study: s, patientStudies, today: TODAY };
  const r = testCond(cond, ctx);
  // The fast path agrees with the explaining one.
  expect(check(cond, ctx)).toBe(r.ok);
  return r;
}

describe('in', () => {
  it('compares case-insensitively and trimmed, any study value', () => {
    expect(run(MG)).toEqual({ ok: true, why: 'modality MG is one of [MG]' });
    const s = study({ modalities: ['SR', ' mg '] });
    expect(run({ kind: 'in', fact: 'modality', values: ['CT', 'Mg'] }, s)).toEqual({
      ok: true,
      why: 'modality mg is one of [CT, Mg]',
    });
    expect(run({ kind: 'in', fact: 'modality', values: ['CT'] }, s)).toEqual({
      ok: false,
      why: 'modality SR, mg is not one of [CT]',
    });
  });

  it('maps each fact to its study values', () => {
    const s = study();
    expect(run({ kind: 'in', fact: 'bodyPart', values: ['breast'] }, s).ok).toBe(true);
    expect(
      run({ kind: 'in', fact: 'sopClass', values: ['1.2.840.10008.5.1.4.1.1.1.2'] }, s).ok,
    ).toBe(true);
    expect(run({ kind: 'in', fact: 'source', values: ['MAMMO-ROOM'] }, s).ok).toBe(true);
    expect(run({ kind: 'in', fact: 'callingAet', values: ['mammo1'] }, s).ok).toBe(true);
    expect(run({ kind: 'in', fact: 'institution', values: ['general hospital'] }, s).ok).toBe(true);
    expect(run({ kind: 'in', fact: 'adapter', values: ['x'] }, s)).toEqual({
      ok: false,
      why: 'no adapter: not one of [x]',
    });
  });

  it('sex is one value; unknown sex is in no list', () => {
    expect(run({ kind: 'in', fact: 'sex', values: ['f'] })).toEqual({
      ok: true,
      why: 'sex F is one of [f]',
    });
    expect(run({ kind: 'in', fact: 'sex', values: ['F', 'M', 'O'] }, study({ sex: null }))).toEqual(
      { ok: false, why: 'no sex: not one of [F, M, O]' },
    );
  });
});

describe('matches', () => {
  it('matches the study description, case-insensitively', () => {
    const c: Condition = { kind: 'matches', fact: 'studyDescription', pattern: 'MAMMO' };
    expect(run(c)).toEqual({
      ok: true,
      why: 'study description "Screening mammo bilateral" matches /MAMMO/i',
    });
    expect(run(c, study({ studyDescription: 'CT head' }))).toEqual({
      ok: false,
      why: 'study description "CT head" does not match /MAMMO/i',
    });
    expect(run(c, study({ studyDescription: null }))).toEqual({
      ok: false,
      why: 'no study description',
    });
  });

  it('gives the same answer on repeated use of a cached pattern', () => {
    const c: Condition = { kind: 'matches', fact: 'studyDescription', pattern: '^screen' };
    for (let i = 0; i < 3; i++) expect(run(c).ok).toBe(true);
  });
});

describe('age', () => {
  it('age at study', () => {
    const s = study({ birthDate: '1975-03-01', studyDate: '2020-05-10' }); // 45
    expect(run({ kind: 'age', fact: 'ageAtStudy', atLeast: 21 }, s)).toEqual({
      ok: true,
      why: 'age at study 45 ≥ 21',
    });
    expect(run({ kind: 'age', fact: 'ageAtStudy', under: 21 }, s)).toEqual({
      ok: false,
      why: 'age at study 45 is not < 21',
    });
    expect(run({ kind: 'age', fact: 'ageAtStudy', atLeast: 40, under: 50 }, s)).toEqual({
      ok: true,
      why: 'age at study 45 ≥ 40 and < 50',
    });
    expect(run({ kind: 'age', fact: 'ageAtStudy', atLeast: 45 }, s).ok).toBe(true);
    expect(run({ kind: 'age', fact: 'ageAtStudy', under: 45 }, s).ok).toBe(false);
  });

  it('uses the receive day when there is no study date, the evaluation day for ageNow', () => {
    const s = study({
      birthDate: '2000-05-11',
      studyDate: null,
      receivedAt: '2021-05-11T01:00:00Z',
    });
    expect(run({ kind: 'age', fact: 'ageAtStudy', atLeast: 21 }, s).why).toBe(
      'age at study 21 ≥ 21',
    );
    expect(run({ kind: 'age', fact: 'ageNow', atLeast: 24 }, s)).toEqual({
      ok: true,
      why: 'age now 24 ≥ 24',
    });
  });

  it('unknown birth date: false for either bound', () => {
    const s = study({ birthDate: null });
    const why = 'no birth date: age unknown';
    expect(run({ kind: 'age', fact: 'ageAtStudy', atLeast: 21 }, s)).toEqual({ ok: false, why });
    expect(run({ kind: 'age', fact: 'ageAtStudy', under: 21 }, s)).toEqual({ ok: false, why });
  });
});

describe('date', () => {
  it('before and after are exclusive', () => {
    expect(run({ kind: 'date', fact: 'studyDate', before: '2020-05-10' }).ok).toBe(false);
    expect(run({ kind: 'date', fact: 'studyDate', before: '2020-05-11' })).toEqual({
      ok: true,
      why: 'study date 2020-05-10 is before 2020-05-11',
    });
    expect(run({ kind: 'date', fact: 'studyDate', after: '2020-05-10' })).toEqual({
      ok: false,
      why: 'study date 2020-05-10 is not after 2020-05-10',
    });
    expect(run({ kind: 'date', fact: 'receiveDate', after: '2020-05-10' })).toEqual({
      ok: true,
      why: 'receive date 2020-05-11 is after 2020-05-10',
    });
  });

  it('no study date is false', () => {
    expect(
      run({ kind: 'date', fact: 'studyDate', after: '1900-01-01' }, study({ studyDate: null })),
    ).toEqual({ ok: false, why: 'no study date' });
  });

  it('olderThan: on or before today - period; within: after it', () => {
    const oneYear = dur('1 year'); // today 2024-06-15 → limit 2023-06-15
    const at = (day: string) => study({ lastAccessedAt: `${day}T10:00:00Z` });
    const older: Condition = { kind: 'date', fact: 'lastAccess', olderThan: oneYear };
    const within: Condition = { kind: 'date', fact: 'lastAccess', within: oneYear };
    expect(run(older, at('2023-06-15'))).toEqual({
      ok: true,
      why: 'last access 2023-06-15 is older than 1 year (on or before 2023-06-15)',
    });
    expect(run(within, at('2023-06-15'))).toEqual({
      ok: false,
      why: 'last access 2023-06-15 is not within 1 year (after 2023-06-15)',
    });
    expect(run(older, at('2023-06-16')).ok).toBe(false);
    expect(run(within, at('2023-06-16')).ok).toBe(true);
  });

  it('lastAccess falls back to the receipt of a study never read, and says so', () => {
    const c: Condition = {
      kind: 'date',
      fact: 'lastAccess',
      olderThan: dur('30 days'),
    };
    expect(run(c)).toEqual({
      ok: true,
      why: 'last access (never read: receipt) 2020-05-11 is older than 30 days (on or before 2024-05-16)',
    });
  });
});

describe('size', () => {
  it('over and under are strict', () => {
    const s = study({ sizeBytes: 1000 });
    expect(run({ kind: 'size', over: 1000 }, s)).toEqual({
      ok: false,
      why: 'size 1000 bytes is not > 1000',
    });
    expect(run({ kind: 'size', over: 999 }, s)).toEqual({ ok: true, why: 'size 1000 bytes > 999' });
    expect(run({ kind: 'size', under: 1000 }, s).ok).toBe(false);
    expect(run({ kind: 'size', under: 1001, over: 10 }, s)).toEqual({
      ok: true,
      why: 'size 1000 bytes > 10 and < 1001',
    });
  });
});

describe('laterStudy', () => {
  const first = study({ studyInstanceUid: 'a', studyDate: '2019-01-10' });
  const ct = study({ studyInstanceUid: 'b', studyDate: '2020-02-02', modalities: ['CT'] });
  const second = study({ studyInstanceUid: 'c', studyDate: '2021-03-04' });
  const third = study({ studyInstanceUid: 'd', studyDate: '2022-03-04' });
  const all = [third, first, ct, second];
  const later: Condition = { kind: 'laterStudy', where: MG };

  it('finds a later study matching `where`, naming the next one', () => {
    expect(run(later, first, all)).toEqual({
      ok: true,
      why: 'patient has a later study on 2021-03-04 matching (modality MG is one of [MG])',
    });
  });

  it('the last one has none; earlier and same-day studies do not count', () => {
    expect(run(later, third, all)).toEqual({
      ok: false,
      why: 'patient has no later study matching (modality is one of [MG])',
    });
    const sameDay = study({ studyInstanceUid: 'e', studyDate: '2022-03-04' });
    expect(run(later, third, [...all, sameDay]).ok).toBe(false);
    expect(run(later, ct, all).ok).toBe(true);
  });

  it('excludes the study itself, and uses the receive day of a study with no date', () => {
    expect(run(later, first, [first]).ok).toBe(false);
    const undated = study({
      studyInstanceUid: 'f',
      studyDate: null,
      receivedAt: '2019-02-01T00:00:00Z',
    });
    expect(run(later, first, [first, undated]).why).toBe(
      'patient has a later study on 2019-02-01 matching (modality MG is one of [MG])',
    );
  });
});

describe('all, any, not, always', () => {
  const CT: Condition = { kind: 'in', fact: 'modality', values: ['CT'] };
  const adult: Condition = { kind: 'age', fact: 'ageAtStudy', atLeast: 21 };

  it('all: every reason when it holds, the first failure when not', () => {
    expect(run({ kind: 'all', of: [MG, adult] })).toEqual({
      ok: true,
      why: 'modality MG is one of [MG] and age at study 45 ≥ 21',
    });
    expect(run({ kind: 'all', of: [MG, CT, adult] })).toEqual({
      ok: false,
      why: 'modality MG is not one of [CT]',
    });
  });

  it('any: the first reason that holds, or all failures', () => {
    expect(run({ kind: 'any', of: [CT, adult] })).toEqual({
      ok: true,
      why: 'age at study 45 ≥ 21',
    });
    expect(run({ kind: 'any', of: [CT, { kind: 'size', over: 1e12 }] })).toEqual({
      ok: false,
      why: 'none of: modality MG is not one of [CT]; size 120000000 bytes is not > 1000000000000',
    });
  });

  it('not', () => {
    expect(run({ kind: 'not', of: CT })).toEqual({
      ok: true,
      why: 'not (modality is one of [CT])',
    });
    expect(run({ kind: 'not', of: MG })).toEqual({
      ok: false,
      why: 'modality MG is one of [MG]',
    });
  });

  it('always', () => {
    expect(run({ kind: 'always' })).toEqual({ ok: true, why: 'every study' });
  });

  it('testEach lists the reasons of a top-level all', () => {
    const s = study();
    const ctx = { study: s, patientStudies: [s], today: TODAY };
    expect(testEach({ kind: 'all', of: [MG, adult] }, ctx)).toEqual({
      ok: true,
      why: ['modality MG is one of [MG]', 'age at study 45 ≥ 21'],
    });
    expect(testEach({ kind: 'all', of: [CT, adult] }, ctx)).toEqual({
      ok: false,
      why: ['modality MG is not one of [CT]'],
    });
    expect(testEach(MG, ctx)).toEqual({ ok: true, why: ['modality MG is one of [MG]'] });
  });

  it('describes conditions', () => {
    expect(
      describeCond({
        kind: 'all',
        of: [
          MG,
          { kind: 'not', of: { kind: 'laterStudy', where: MG } },
          { kind: 'any', of: [CT, adult] },
        ],
      }),
    ).toBe(
      'modality is one of [MG] and not (patient has a later study matching (modality is one of [MG])) and (modality is one of [CT] or age at study ≥ 21)',
    );
  });
});
