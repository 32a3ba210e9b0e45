import { describe, expect, it } from 'vitest';
import { addDays, addDuration, addMonths, dayOf } from './dates.js';
import { type HoldFact, type StudyFacts, type StudyState } from './facts.js';
import { type Duration } from './policy-model.js';
import { monthsAfter, simulate, type SimulationMonth } from './simulator.js';
import { dur, hold, policies, study as anyStudy } from './testing/policy-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: the shipped defaults (./testing/policy-fixtures.ts); each study its own patient

const POLICIES = policies();

function study(uid: string, over: Partial<StudyFacts> = {}): StudyFacts {
  return anyStudy({
    studyInstanceUid: uid,
    patientKey: `${uid}|`,
    patientId: uid,
    sizeBytes: 1,
    ...over,
  });
}

const tally = (studies: number, bytes: number) => ({ studies, bytes });

// ---------------------------------------------------------------------------------------------

describe('monthsAfter', () => {
  it('adds calendar months at the same time of day, clamping the day', () => {
    const start = new Date('2029-01-31T12:34:56.789Z');
    expect(monthsAfter(start, 1).toISOString()).toBe('2029-02-28T12:34:56.789Z');
    expect(monthsAfter(start, 2).toISOString()).toBe('2029-03-31T12:34:56.789Z');
    expect(monthsAfter(start, 13).toISOString()).toBe('2030-02-28T12:34:56.789Z');
    expect(monthsAfter(new Date('2027-12-31T00:00:00Z'), 2).toISOString()).toBe(
      '2028-02-29T00:00:00.000Z',
    );
  });
});

describe('simulate: a hand-checked scenario', () => {
  // Evaluations on 2029-02-15, 03-15, 04-15, 05-15 (noon UTC).
  const start = new Date('2029-01-15T12:00:00Z');
  // A: adult, retention ends 2029-02-01 → expired in month 1 (02-15), purge on 03-17 → month 3.
  const A = study('A', { studyDate: '2019-02-01', tiers: ['cold'], sizeBytes: 100 });
  // B: received 2029-01-10, never read: hot → warm due 02-09 → month 1.
  const B = study('B', {
    studyDate: '2029-01-10',
    receivedAt: '2029-01-10T10:00:00Z',
    sizeBytes: 10,
  });
  // C: ended 2028-12-01, but its patient is on hold H-1: blocked every month.
  const C = study('C', { studyDate: '2018-12-01', tiers: ['cold'], sizeBytes: 1000 });
  // D: expired on 2029-01-01 (purge on 01-31) → purged in month 1.
  const D = study('D', { tiers: ['cold'], sizeBytes: 5000 });
  // E: expired on 2029-01-01, held by study (H-2): purge blocked every month.
  const E = study('E', { tiers: ['cold'], sizeBytes: 20000 });
  // F: a minor (kept until 2038), read on 2029-01-20: hot → warm due 02-19 → month 2.
  const F = study('F', {
    birthDate: '2015-01-01',
    studyDate: '2020-01-01',
    receivedAt: '2020-01-01T00:00:00Z',
    lastAccessedAt: '2029-01-20T08:00:00Z',
    sizeBytes: 3,
  });
  // G: no Patient ID: H-2 (patientId null) does not cover it. Ended 2020 → expired month 1.
  const G = study('G', { patientId: null, studyDate: '2010-01-01', tiers: ['cold'], sizeBytes: 7 });

  const expiredJan: StudyState = { expiredAt: '2029-01-01T00:00:00.000Z', expiredBy: 'manual' };
  const holds = [
    hold('H-1', { patientId: 'C' }),
    hold('H-2', { patientId: null, studyInstanceUid: 'E' }),
    hold('H-3', { patientId: 'nobody' }),
  ];
  const states = new Map<string, StudyState>([
    ['D', expiredJan],
    ['E', expiredJan],
  ]);
  const simInput = {
    studies: [A, B, C, D, E, F, G],
    holds,
    states,
    policies: POLICIES,
    start,
    months: 4,
  };

  it('month by month', () => {
    const months = simulate(simInput);
    const blocked = { expiries: 1, purges: 1, holds: ['H-1', 'H-2'] };
    expect(months).toEqual<SimulationMonth[]>([
      {
        month: 1,
        date: '2029-02-15',
        tiers: { hot: tally(1, 3), warm: tally(1, 10), cold: tally(4, 21107) },
        expired: tally(3, 20107),
        expiries: 2,
        purges: 1,
        purgedBytes: 5000,
        moves: { 'hot→warm': 1 },
        blocked,
      },
      {
        month: 2,
        date: '2029-03-15',
        tiers: { hot: tally(0, 0), warm: tally(2, 13), cold: tally(4, 21107) },
        expired: tally(3, 20107),
        expiries: 0,
        purges: 0,
        purgedBytes: 0,
        moves: { 'hot→warm': 1 },
        blocked,
      },
      {
        month: 3,
        date: '2029-04-15',
        tiers: { hot: tally(0, 0), warm: tally(2, 13), cold: tally(2, 21000) },
        expired: tally(1, 20000),
        expiries: 0,
        purges: 2,
        purgedBytes: 107,
        moves: {},
        blocked,
      },
      {
        month: 4,
        date: '2029-05-15',
        tiers: { hot: tally(0, 0), warm: tally(2, 13), cold: tally(2, 21000) },
        expired: tally(1, 20000),
        expiries: 0,
        purges: 0,
        purgedBytes: 0,
        moves: {},
        blocked,
      },
    ]);
  });

  it('does not change its input', () => {
    const before = structuredClone(simInput);
    simulate(simInput);
    expect(simInput).toEqual(before);
    expect(simInput.states.size).toBe(2);
    expect(B.tiers).toEqual(['hot']);
  });

  it('zero months: nothing', () => {
    expect(simulate({ ...simInput, months: 0 })).toEqual([]);
  });
});

describe('simulate: histories', () => {
  it('a purged study leaves the patient history: the earlier mammogram becomes the last one', () => {
    const m1 = study('m1', {
      patientKey: 'Q|',
      patientId: 'Q',
      birthDate: null,
      modalities: ['MG'],
      studyDate: '2025-03-01',
      tiers: ['cold'],
    });
    const m2 = { ...m1, studyInstanceUid: 'm2', studyDate: '2026-03-01' };
    const months = simulate({
      studies: [m1, m2],
      holds: [],
      // m2 deleted by hand: purged in month 1; m1 then keeps 10 years (2035), not 5 (2030-03-01).
      states: new Map([['m2', { expiredAt: '2030-01-01T00:00:00Z', expiredBy: 'manual' }]]),
      policies: POLICIES,
      start: new Date('2030-01-15T00:00:00Z'),
      months: 6,
    });
    expect(months.map((m) => [m.expiries, m.purges])).toEqual([
      [0, 1],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  });

  it('tiers: a study on hot and warm moves both ways without duplicates', () => {
    const s = study('S', {
      tiers: ['hot', 'warm'],
      studyDate: '2028-01-01',
      receivedAt: '2028-01-01T00:00:00Z',
      lastAccessedAt: '2028-12-20T00:00:00Z',
    });
    const months = simulate({
      studies: [s],
      holds: [],
      states: new Map(),
      policies: POLICIES,
      start: new Date('2029-01-01T00:00:00Z'),
      months: 12,
    });
    // hot→warm due 2029-01-19 (month 1: on warm only); warm→cold due 2029-12-20 (month 12).
    expect(months[0].moves).toEqual({ 'hot→warm': 1 });
    expect(months[0].tiers).toEqual({ hot: tally(0, 0), warm: tally(1, 1), cold: tally(0, 0) });
    expect(months[11].date).toBe('2030-01-01');
    expect(months[11].moves).toEqual({ 'warm→cold': 1 });
    expect(months[11].tiers.cold).toEqual(tally(1, 1));
  });
});

// ---------------------------------------------------------------------------------------------
// A synthetic archive: totals checked against an independent count

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('simulate: 20,000 synthetic studies', () => {
  it('expiries, purges, blocked counts and tier totals add up', () => {
    const random = rng(42);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const day = (from: string, span: number) => addDays(from, Math.floor(random() * span));
    const studies: StudyFacts[] = [];
    const holds: HoldFact[] = [];
    let p = 0;
    while (studies.length < 20_000) {
      p++;
      const patientId = `P${p}`;
      // Adults only (born 1930-1979) or no birth date (kept forever: no MG for them).
      const birthDate = random() < 0.1 ? null : day('1930-01-01', 50 * 365);
      const n = 1 + Math.floor(random() * 3);
      if (random() < 0.01) holds.push(hold(`H${p}`, { patientId }));
      for (let i = 0; i < n; i++) {
        const studyDate = day('2014-01-01', 5 * 365);
        const receivedAt = `${addDays(studyDate, Math.floor(random() * 3))}T10:00:00.000Z`;
        studies.push(
          study(`${p}.${i}`, {
            patientKey: `${patientId}|`,
            patientId,
            birthDate,
            studyDate: random() < 0.05 ? null : studyDate,
            receivedAt,
            lastAccessedAt: random() < 0.5 ? null : `${day('2022-06-01', 500)}T08:00:00.000Z`,
            modalities: birthDate === null ? [pick(['CT', 'MR', 'US'])] : [pick(['CT', 'MG'])],
            sizeBytes: 1_000 + Math.floor(random() * 1_000_000),
            tiers: [pick(['hot', 'hot', 'warm', 'cold'] as const)],
          }),
        );
      }
    }
    const start = new Date('2024-01-10T02:00:00.000Z');
    const months = 24;
    const result = simulate({
      studies,
      holds,
      states: new Map(),
      policies: POLICIES,
      start,
      months,
    });
    expect(result).toHaveLength(months);

    // Independent count: an adult's retention ends 10 years after the patient's last study
    // (which is ≥ the MQSA dates); expired in the first month on or after; purged in the first
    // month at least 30 days later; with a hold, blocked every month from then on.
    const dates = Array.from({ length: months }, (_, i) => monthsAfter(start, i + 1).toISOString());
    const held = new Set(holds.map((h) => h.patientId));
    const last = new Map<string, string>();
    for (const s of studies) {
      const d = s.studyDate ?? dayOf(s.receivedAt);
      const prev = last.get(s.patientKey);
      if (prev === undefined || d > prev) last.set(s.patientKey, d);
    }
    const expected = Array.from({ length: months }, () => ({
      expiries: 0,
      purges: 0,
      purgedBytes: 0,
      blockedExpiries: 0,
    }));
    const ten: Duration = dur('10 years');
    let neverExpire = 0;
    for (const s of studies) {
      if (s.birthDate === null) {
        neverExpire++;
        continue;
      }
      const until = addDuration(last.get(s.patientKey) as string, ten);
      const e = dates.findIndex((d) => d.slice(0, 10) >= until);
      if (e < 0) continue;
      if (held.has(s.patientId)) {
        for (let m = e; m < months; m++) expected[m].blockedExpiries++;
        continue;
      }
      expected[e].expiries++;
      const purgeOn = addDays(dates[e].slice(0, 10), 30);
      const q = dates.findIndex((d) => d.slice(0, 10) >= purgeOn);
      if (q >= 0) {
        expected[q].purges++;
        expected[q].purgedBytes += s.sizeBytes;
      }
    }
    expect(neverExpire).toBeGreaterThan(1000);
    expect(result.map((m) => m.expiries)).toEqual(expected.map((m) => m.expiries));
    expect(result.map((m) => m.purges)).toEqual(expected.map((m) => m.purges));
    expect(result.map((m) => m.purgedBytes)).toEqual(expected.map((m) => m.purgedBytes));
    expect(result.map((m) => m.blocked.expiries)).toEqual(expected.map((m) => m.blockedExpiries));
    expect(result.every((m) => m.blocked.purges === 0)).toBe(true);
    const totalExpiries = result.reduce((n, m) => n + m.expiries, 0);
    expect(totalExpiries).toBeGreaterThan(1000);

    // Conservation: every study is on one tier; purges leave the tally; expired = expiries -
    // purges so far.
    let present = studies.length;
    let bytes = studies.reduce((n, s) => n + s.sizeBytes, 0);
    let expiredNow = 0;
    for (const m of result) {
      present -= m.purges;
      bytes -= m.purgedBytes;
      expiredNow += m.expiries - m.purges;
      const t = m.tiers;
      expect(t.hot.studies + t.warm.studies + t.cold.studies).toBe(present);
      expect(t.hot.bytes + t.warm.bytes + t.cold.bytes).toBe(bytes);
      expect(m.expired.studies).toBe(expiredNow);
      expect(Object.keys(m.moves).every((k) => k === 'hot→warm' || k === 'warm→cold')).toBe(true);
    }
    // Every last access is before 2023-10-15, so every hot study is due for warm in month 1,
    // except those expired that month (the retention sweep runs first; it is not moved).
    const hot = studies.filter((s) => s.tiers[0] === 'hot').length;
    expect(result[0].tiers.hot.studies + result[0].moves['hot→warm']!).toBe(hot);
    expect(result[0].tiers.hot.studies).toBeLessThanOrEqual(result[0].expiries);
    expect(result[0].moves['hot→warm']).toBeGreaterThan(hot / 2);
    // Warm studies reach cold one year after their last access (by 2024-10-14):
    // at the end only expired ones remain on warm.
    expect(result[months - 1].tiers.warm.studies).toBeLessThanOrEqual(
      result[months - 1].expired.studies,
    );
    expect(addMonths('2024-01-10', 24)).toBe(result[months - 1].date);
  });
});
