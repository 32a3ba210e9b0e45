import { describe, expect, it } from 'vitest';
import { evaluate } from './evaluator.js';
import { type EvaluationInput, type HoldFact, type StudyFacts, type StudyState } from './facts.js';
import { type RetentionRule, type TieringRule } from './policy-model.js';
import {
  DEFAULT_RETENTION,
  hold,
  keep,
  policies,
  retention,
  study,
  tiering,
} from './testing/policy-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: the shipped defaults and fact builders are in ./testing/policy-fixtures.ts

const NOT_EXPIRED: StudyState = { expiredAt: null, expiredBy: null };

function input(
  s: StudyFacts,
  others: StudyFacts[] = [],
  extra: { holds?: HoldFact[]; state?: StudyState } = {},
): EvaluationInput {
  return {
    study: s,
    patientStudies: [s, ...others],
    holds: extra.holds ?? [],
    state: extra.state ?? NOT_EXPIRED,
  };
}

const at = (iso: string) => new Date(iso.length === 10 ? `${iso}T12:00:00Z` : iso);

// ---------------------------------------------------------------------------------------------

describe('retention: adults', () => {
  it('keeps 10 years from the last study and explains the rules that did not match', () => {
    const s = study();
    const d = evaluate(input(s), policies(), at('2025-01-01'));
    expect(d.retention).toMatchObject({
      forever: false,
      until: '2029-04-02',
      rule: 'adult',
      ended: false,
    });
    expect(d.retention.matched).toEqual([
      {
        rule: 'adult',
        file: 'retention.yaml',
        why: ['age at study 49 ≥ 21'],
        until: '2029-04-02',
        forever: false,
        undetermined: null,
        computation: "10 years from the patient's last study (2019-04-02) = 2029-04-02",
        won: true,
      },
    ]);
    expect(d.retention.notMatched).toEqual([
      { rule: 'minor', file: 'retention.yaml', why: 'age at study 49 is not < 21' },
      {
        rule: 'mqsa-later-mammogram',
        file: 'retention.yaml',
        why: 'modality CT is not one of [MG]',
      },
      {
        rule: 'mqsa-last-mammogram',
        file: 'retention.yaml',
        why: 'modality CT is not one of [MG]',
      },
    ]);
    expect(d.action).toEqual({ kind: 'none' });
    expect(d).toMatchObject({
      studyInstanceUid: s.studyInstanceUid,
      at: '2025-01-01T12:00:00.000Z',
      policyVersion: 'v-test',
      holds: [],
      expiredAt: null,
      purgeOn: null,
    });
  });

  it('ends on the until day: expire, with the rule', () => {
    const s = study();
    expect(evaluate(input(s), policies(), at('2029-04-01T23:59:59Z')).action).toEqual({
      kind: 'none',
    });
    const d = evaluate(input(s), policies(), at('2029-04-02T00:00:00Z'));
    expect(d.retention.ended).toBe(true);
    expect(d.action).toEqual({ kind: 'expire', rule: 'adult' });
  });

  it('a new study of the patient pushes the older ones out', () => {
    const old = study({ studyDate: '2019-04-02' });
    const now = at('2029-06-01');
    expect(evaluate(input(old), policies(), now).action.kind).toBe('expire');
    const newer = study({ studyDate: '2023-01-15', receivedAt: '2023-01-15T10:00:00Z' });
    const d = evaluate(input(old, [newer]), policies(), now);
    expect(d.retention.until).toBe('2033-01-15');
    expect(d.retention.matched[0].computation).toBe(
      "10 years from the patient's last study (2023-01-15) = 2033-01-15",
    );
    expect(d.action).toEqual({ kind: 'none' });
  });

  it('a study without a study date is placed at its receive day', () => {
    const s = study({ studyDate: null, receivedAt: '2020-07-01T23:30:00Z' });
    const d = evaluate(input(s), policies(), at('2021-01-01'));
    expect(d.retention.until).toBe('2030-07-01');
  });
});

describe('retention: minors', () => {
  it('keeps 2 years from the age of majority', () => {
    const s = study({ birthDate: '2010-05-01', studyDate: '2015-06-01' });
    const d = evaluate(input(s), policies(), at('2025-01-01'));
    expect(d.retention).toMatchObject({ until: '2033-05-01', rule: 'minor', forever: false });
    expect(d.retention.matched).toHaveLength(1);
    expect(d.retention.matched[0]).toMatchObject({
      why: ['age at study 5 < 21'],
      computation:
        '2 years from the age of majority (21, on 2031-05-01, born 2010-05-01) = 2033-05-01',
    });
    expect(d.retention.notMatched[0]).toEqual({
      rule: 'adult',
      file: 'retention.yaml',
      why: 'age at study 5 is not ≥ 21',
    });
  });

  it('leap-day birth: majority on 28 February', () => {
    const s = study({ birthDate: '2008-02-29', studyDate: '2012-01-01' });
    const d = evaluate(input(s), policies(), at('2025-01-01'));
    expect(d.retention.until).toBe('2031-02-28');
  });

  it('a leap-day study: 10 years later is 28 February', () => {
    const s = study({ studyDate: '2020-02-29' });
    expect(evaluate(input(s), policies(), at('2025-01-01')).retention.until).toBe('2030-02-28');
  });
});

describe('retention: mammography', () => {
  const m1 = study({ studyDate: '2015-03-01', modalities: ['MG'], birthDate: '1960-08-08' });
  const m2 = study({ studyDate: '2016-03-01', modalities: ['MG'], birthDate: '1960-08-08' });
  const m3 = study({ studyDate: '2017-03-01', modalities: ['MG'], birthDate: '1960-08-08' });
  const now = at('2024-01-01');

  it('with a later exam: the adult rule wins over the 5 years of MQSA', () => {
    const d = evaluate(input(m1, [m2, m3]), policies(), now);
    expect(d.retention.rule).toBe('adult');
    expect(d.retention.until).toBe('2027-03-01');
    const byRule = Object.fromEntries(d.retention.matched.map((m) => [m.rule, m]));
    expect(byRule['adult']).toMatchObject({ won: true, until: '2027-03-01' });
    expect(byRule['mqsa-later-mammogram']).toMatchObject({
      won: false,
      until: '2020-03-01',
      why: [
        'modality MG is one of [MG]',
        'patient has a later study on 2016-03-01 matching (modality MG is one of [MG])',
      ],
      computation: '5 years from the study date (2015-03-01) = 2020-03-01',
    });
    expect(d.retention.notMatched.map((n) => n.rule)).toEqual(['minor', 'mqsa-last-mammogram']);
    expect(d.retention.notMatched[1].why).toBe(
      'patient has a later study on 2016-03-01 matching (modality MG is one of [MG])',
    );
    expect(d.retention.matched.filter((m) => m.won)).toHaveLength(1);
  });

  it('the last exam: a tie between adult and mqsa-last goes to the first in file order', () => {
    const d = evaluate(input(m3, [m1, m2]), policies(), now);
    expect(d.retention.matched.map((m) => [m.rule, m.until, m.won])).toEqual([
      ['adult', '2027-03-01', true],
      ['mqsa-last-mammogram', '2027-03-01', false],
    ]);
    expect(d.retention.matched[1].why).toEqual([
      'modality MG is one of [MG]',
      'not (patient has a later study matching (modality is one of [MG]))',
    ]);
  });

  it('without a birth date the MQSA rules decide', () => {
    const a = study({ studyDate: '2015-03-01', modalities: ['MG'], birthDate: null });
    const b = study({ studyDate: '2016-03-01', modalities: ['MG'], birthDate: null });
    const da = evaluate(input(a, [b]), policies(), now);
    expect(da.retention).toMatchObject({ rule: 'mqsa-later-mammogram', until: '2020-03-01' });
    expect(da.action).toEqual({ kind: 'expire', rule: 'mqsa-later-mammogram' });
    expect(da.retention.notMatched[0].why).toBe('no birth date: age unknown');
    const db = evaluate(input(b, [a]), policies(), now);
    expect(db.retention).toMatchObject({ rule: 'mqsa-last-mammogram', until: '2026-03-01' });
  });

  it('a later CT does not count as a later mammogram', () => {
    const ct = study({ studyDate: '2018-01-01', modalities: ['CT'], birthDate: null });
    const a = study({ studyDate: '2015-03-01', modalities: ['MG'], birthDate: null });
    const d = evaluate(input(a, [ct]), policies(), now);
    expect(d.retention).toMatchObject({ rule: 'mqsa-last-mammogram', until: '2025-03-01' });
  });
});

describe('retention: forever', () => {
  it('no birth date and no other rule: kept forever, rule null', () => {
    const s = study({ birthDate: null });
    const d = evaluate(input(s), policies(), at('2090-01-01'));
    expect(d.retention).toMatchObject({
      forever: true,
      until: null,
      rule: null,
      matched: [],
      ended: false,
    });
    expect(d.retention.notMatched).toHaveLength(4);
    expect(d.action).toEqual({ kind: 'none' });
  });

  it('no rules at all: nothing is deleted', () => {
    const d = evaluate(input(study()), policies({ retention: [] }), at('2090-01-01'));
    expect(d.retention).toMatchObject({ forever: true, rule: null, ended: false });
  });

  it('a keep-forever rule wins wherever it is in the file', () => {
    const research = retention(
      'research',
      { kind: 'in', fact: 'institution', values: ['Research Institute'] },
      { forever: true },
    );
    const s = study({ institutions: ['research institute'] });
    const cases: [RetentionRule[], [string, boolean][]][] = [
      [
        [research, ...DEFAULT_RETENTION],
        [
          ['research', true],
          ['adult', false],
        ],
      ],
      [
        [...DEFAULT_RETENTION, research],
        [
          ['adult', false],
          ['research', true],
        ],
      ],
    ];
    for (const [rules, won] of cases) {
      const d = evaluate(input(s), policies({ retention: rules }), at('2090-01-01'));
      expect(d.retention).toMatchObject({ forever: true, until: null, rule: 'research' });
      expect(d.retention.matched.map((m) => [m.rule, m.won])).toEqual(won);
      expect(d.retention.matched.find((m) => m.rule === 'research')).toMatchObject({
        forever: true,
        computation: 'kept forever',
      });
      expect(d.action).toEqual({ kind: 'none' });
    }
  });

  it('an undetermined date (age of majority, no birth date) counts as forever, with the reason', () => {
    const peds = retention(
      'pediatric-hospital',
      { kind: 'in', fact: 'institution', values: ["Children's"] },
      keep('2 years', 'age-of-majority'),
    );
    const s = study({ birthDate: null, institutions: ["Children's"] });
    const d = evaluate(
      input(s),
      policies({ retention: [...DEFAULT_RETENTION, peds] }),
      at('2090-01-01'),
    );
    expect(d.retention).toMatchObject({ forever: true, until: null, rule: 'pediatric-hospital' });
    expect(d.retention.matched[0]).toMatchObject({
      until: null,
      forever: false,
      undetermined: 'no birth date: the age of majority (21) is unknown',
      won: true,
    });
  });
});

describe('retention: bounds', () => {
  it('atLeast raises, atMost lowers, counted from the study date', () => {
    const s = study({ studyDate: '2019-04-02', receivedAt: '2021-06-01T00:00:00Z' });
    const rules = [
      retention('short', { kind: 'always' }, keep('1 year', 'receive-date'), {
        atLeast: '5 years',
      }),
    ];
    const d = evaluate(input(s), policies({ retention: rules }), at('2022-01-01'));
    expect(d.retention.until).toBe('2024-04-02');
    expect(d.retention.matched[0].computation).toBe(
      '1 year from the receive date (2021-06-01) = 2022-06-01, raised to the minimum 5 years from the study date (2019-04-02) = 2024-04-02',
    );

    const later = study({ studyDate: '2035-01-01' });
    const capped = [
      retention('capped', { kind: 'always' }, keep('10 years', 'last-study'), {
        atLeast: '1 year',
        atMost: '12 years',
      }),
    ];
    const d2 = evaluate(input(s, [later]), policies({ retention: capped }), at('2022-01-01'));
    expect(d2.retention.until).toBe('2031-04-02');
    expect(d2.retention.matched[0].computation).toBe(
      "10 years from the patient's last study (2035-01-01) = 2045-01-01, lowered to the maximum 12 years from the study date (2019-04-02) = 2031-04-02",
    );
  });

  it('bounds count from the receive day when there is no study date', () => {
    const s = study({ studyDate: null, receivedAt: '2021-06-01T00:00:00Z' });
    const rules = [
      retention('r', { kind: 'always' }, keep('1 year', 'receive-date'), { atLeast: '3 years' }),
    ];
    const d = evaluate(input(s), policies({ retention: rules }), at('2022-01-01'));
    expect(d.retention.until).toBe('2024-06-01');
    expect(d.retention.matched[0].computation).toContain(
      'raised to the minimum 3 years from the receive date (2021-06-01)',
    );
  });

  it('the longest retention wins among dated rules', () => {
    const rules = [
      retention('a', { kind: 'always' }, keep('3 years', 'study-date')),
      retention('b', { kind: 'always' }, keep('7 years', 'study-date')),
      retention('c', { kind: 'always' }, keep('5 years', 'study-date')),
    ];
    const d = evaluate(input(study()), policies({ retention: rules }), at('2022-01-01'));
    expect(d.retention.matched.map((m) => [m.rule, m.won])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
    expect(d.retention.until).toBe('2026-04-02');
  });
});

describe('holds and the purge grace period', () => {
  it('a hold blocks the expiry', () => {
    const s = study();
    const h = hold('H-1');
    const d = evaluate(input(s, [], { holds: [h] }), policies(), at('2030-01-01'));
    expect(d.retention.ended).toBe(true);
    expect(d.action).toEqual({ kind: 'blocked', by: 'expire', holds: ['H-1'] });
    expect(d.holds).toEqual([h]);
  });

  it('an expired study is purged after the grace period, unless held', () => {
    const state: StudyState = { expiredAt: '2030-01-10T12:00:00.000Z', expiredBy: 'retention' };
    const s = study({ tiers: ['hot'] });
    const before = evaluate(input(s, [], { state }), policies(), at('2030-02-08T23:00:00Z'));
    expect(before).toMatchObject({
      expiredAt: '2030-01-10T12:00:00.000Z',
      purgeOn: '2030-02-09',
      action: { kind: 'none' },
    });
    // Expired: no tiering moves (hot → warm would be long due).
    expect(before.tiering.due).toEqual([]);
    expect(before.tiering.next).toBeNull();
    expect(before.tiering.matched).toHaveLength(1);

    expect(
      evaluate(input(s, [], { state }), policies(), at('2030-02-09T00:00:00Z')).action,
    ).toEqual({ kind: 'purge' });
    const held = evaluate(
      input(s, [], { state, holds: [hold('H-1'), hold('H-2', { patientId: null })] }),
      policies(),
      at('2030-03-01'),
    );
    expect(held.action).toEqual({ kind: 'blocked', by: 'purge', holds: ['H-1', 'H-2'] });
  });

  it('a manually expired study whose retention has not ended is purged all the same', () => {
    const state: StudyState = { expiredAt: '2020-01-01T00:00:00Z', expiredBy: 'manual' };
    const d = evaluate(input(study(), [], { state }), policies(), at('2020-02-01'));
    expect(d.retention.ended).toBe(false);
    expect(d.action).toEqual({ kind: 'purge' });
  });
});

describe('tiering', () => {
  const received = '2024-01-01T08:00:00Z';

  it('never read: counted from receipt; next, then due', () => {
    const s = study({ receivedAt: received, studyDate: '2024-01-01' });
    const d = evaluate(input(s), policies(), at('2024-01-20'));
    expect(d.tiering.current).toEqual(['hot']);
    expect(d.tiering.due).toEqual([]);
    expect(d.tiering.next).toEqual({
      rule: 'hot-to-warm',
      file: 'tiering.yaml',
      why: ['every study'],
      from: 'hot',
      to: 'warm',
      dueOn: '2024-01-31',
      computation: '30 days from the last access (never read: receipt, 2024-01-01) = 2024-01-31',
    });
    const later = evaluate(input(s), policies(), at('2024-01-31T00:00:00Z'));
    expect(later.tiering.due.map((m) => m.rule)).toEqual(['hot-to-warm']);
    expect(later.tiering.next).toBeNull();
  });

  it('a read pushes the move out', () => {
    const s = study({ receivedAt: received, lastAccessedAt: '2024-01-25T16:00:00Z' });
    const d = evaluate(input(s), policies(), at('2024-02-01'));
    expect(d.tiering.due).toEqual([]);
    expect(d.tiering.next).toMatchObject({
      dueOn: '2024-02-24',
      computation: '30 days from the last access (2024-01-25) = 2024-02-24',
    });
  });

  it('only rules whose from tier the study is on; the earliest pending is next', () => {
    const s = study({ receivedAt: received, tiers: ['warm'] });
    const d = evaluate(input(s), policies(), at('2024-06-01'));
    expect(d.tiering.matched.map((m) => m.rule)).toEqual(['warm-to-cold']);
    expect(d.tiering.next).toMatchObject({ rule: 'warm-to-cold', dueOn: '2025-01-01' });

    const both = study({ receivedAt: received, tiers: ['hot', 'warm'] });
    const d2 = evaluate(input(both), policies(), at('2024-06-01'));
    expect(d2.tiering.due.map((m) => m.rule)).toEqual(['hot-to-warm']);
    expect(d2.tiering.next?.rule).toBe('warm-to-cold');
  });

  it('one due move per from tier: the most advanced step', () => {
    const rules = [
      tiering('hot-to-warm', 'hot', 'warm', '30 days'),
      tiering('hot-to-cold', 'hot', 'cold', '6 months'),
      tiering('hot-to-warm-again', 'hot', 'warm', '60 days'),
    ];
    const s = study({ receivedAt: received });
    const early = evaluate(input(s), policies({ tiering: rules }), at('2024-03-15'));
    expect(early.tiering.due.map((m) => m.rule)).toEqual(['hot-to-warm-again']);
    expect(early.tiering.next?.rule).toBe('hot-to-cold');
    const late = evaluate(input(s), policies({ tiering: rules }), at('2024-08-01'));
    expect(late.tiering.due.map((m) => [m.rule, m.to])).toEqual([['hot-to-cold', 'cold']]);
  });

  it('since receipt ignores reads; conditions apply', () => {
    const rule: TieringRule = {
      ...tiering('big-to-cold', 'hot', 'cold', '90 days'),
      since: 'receipt',
      when: { kind: 'size', over: 10_000 },
    };
    const small = study({ receivedAt: received, lastAccessedAt: '2024-05-01T00:00:00Z' });
    const big = { ...small, sizeBytes: 50_000 };
    expect(
      evaluate(input(small), policies({ tiering: [rule] }), at('2024-06-01')).tiering.matched,
    ).toEqual([]);
    const d = evaluate(input(big), policies({ tiering: [rule] }), at('2024-06-01'));
    expect(d.tiering.due[0]).toMatchObject({
      dueOn: '2024-03-31',
      why: ['size 50000 bytes > 10000'],
      computation: '90 days from receipt (2024-01-01) = 2024-03-31',
    });
  });
});

describe('explain: false', () => {
  it('gives the same verdicts without the strings', () => {
    const m1 = study({ studyDate: '2015-03-01', modalities: ['MG'] });
    const m2 = study({ studyDate: '2016-03-01', modalities: ['MG'] });
    const cases: [EvaluationInput, Date][] = [
      [input(m1, [m2]), at('2024-01-01')],
      [input(m1, [m2]), at('2030-01-01')],
      [input(study({ birthDate: null }), []), at('2030-01-01')],
      [input(study(), [], { holds: [hold('H')] }), at('2030-01-01')],
      [
        input(study(), [], {
          state: { expiredAt: '2030-01-01T00:00:00Z', expiredBy: 'retention' },
        }),
        at('2030-03-01'),
      ],
    ];
    for (const [inp, now] of cases) {
      const full = evaluate(inp, policies(), now);
      const fast = evaluate(inp, policies(), now, { explain: false });
      expect(fast.action).toEqual(full.action);
      expect(fast.purgeOn).toBe(full.purgeOn);
      const strip = (d: typeof full) => ({
        ...d.retention,
        notMatched: [],
        matched: d.retention.matched.map((m) => ({ ...m, why: [], computation: '' })),
      });
      expect(fast.retention).toEqual(strip(full));
      expect(fast.tiering.due.map((m) => m.dueOn)).toEqual(full.tiering.due.map((m) => m.dueOn));
      expect(fast.tiering.next?.dueOn).toBe(full.tiering.next?.dueOn);
    }
  });

  it('is deterministic', () => {
    const inp = input(study({ modalities: ['MG'] }), [study({ studyDate: '2020-01-01' })]);
    const now = at('2024-01-01');
    expect(evaluate(inp, policies(), now)).toEqual(evaluate(inp, policies(), now));
    expect(evaluate(inp, policies(), new Date(now))).toEqual(evaluate(inp, policies(), now));
  });
});
