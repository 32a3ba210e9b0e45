import { type TierName } from '../config/index.js';
import { evaluate } from './evaluator.js';
import { type HoldFact, type StudyFacts, type StudyState } from './facts.js';
import { type PolicySet } from './policy-model.js';

/**
 * What the policies would do over the coming months, if nothing new arrives and nothing is read:
 * month by month, the moves between tiers, the expiries and purges, and what holds block. Pure:
 * works on its own copies of the tiers and states, changes nothing it is given.
 */

export interface SimulationInput {
  studies: StudyFacts[];
  /** Active holds; one covers a study by its Study Instance UID or by its patient's Patient ID. */
  holds: HoldFact[];
  /** The studies' deletion state by Study Instance UID (absent: not expired). */
  states: Map<string, StudyState>;
  policies: PolicySet;
  start: Date;
  months: number;
}

export interface TierTally {
  studies: number;
  bytes: number;
}

export interface SimulationMonth {
  /** 1..months. */
  month: number;
  /** The evaluation date (YYYY-MM-DD): start + month calendar months. */
  date: string;
  /** Studies not purged at month end, by each tier they have objects on (expired ones included). */
  tiers: Record<TierName, TierTally>;
  /** Expired studies not yet purged, at month end. */
  expired: TierTally;
  /** Studies expired this month. */
  expiries: number;
  /** Studies purged this month, and their size. */
  purges: number;
  purgedBytes: number;
  /** Tier moves this month by 'from→to' (a study with objects on a tier counts once per move). */
  moves: Record<string, number>;
  /** Expiries and purges due this month that holds block, and those holds (ids, sorted). */
  blocked: { expiries: number; purges: number; holds: string[] };
}

/** A study as the simulation goes: its own tiers and state. */
interface Sim {
  facts: StudyFacts;
  state: StudyState;
  holds: HoldFact[];
  /** The patient's studies still present (shared by the patient's Sims, rebuilt on a purge). */
  group: Sim[];
  patientStudies: StudyFacts[];
  purged: boolean;
}

const NO_STATE: StudyState = { expiredAt: null, expiredBy: null };

/** `start` plus `n` calendar months, same UTC time of day, the day clamped to the month's end. */
export function monthsAfter(start: Date, n: number): Date {
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth() + n;
  const d = start.getUTCDate();
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const t = new Date(start.getTime());
  t.setUTCFullYear(y, m, d > last ? last : d);
  return t;
}

export function simulate(input: SimulationInput): SimulationMonth[] {
  const { policies } = input;

  // Holds by study and by patient, once.
  const holdsByStudy = new Map<string, HoldFact[]>();
  const holdsByPatient = new Map<string, HoldFact[]>();
  for (const h of input.holds) {
    if (h.studyInstanceUid !== null) push(holdsByStudy, h.studyInstanceUid, h);
    if (h.patientId !== null) push(holdsByPatient, h.patientId, h);
  }

  // Own copies of each study (tiers change), grouped by patient once.
  const sims: Sim[] = [];
  const groups = new Map<string, Sim[]>();
  for (const facts of input.studies) {
    const byStudy = holdsByStudy.get(facts.studyInstanceUid);
    const byPatient = facts.patientId !== null ? holdsByPatient.get(facts.patientId) : undefined;
    let holds: HoldFact[] = byStudy ?? byPatient ?? [];
    if (byStudy !== undefined && byPatient !== undefined) {
      holds = byStudy.concat(byPatient.filter((h) => !byStudy.includes(h)));
    }
    let group = groups.get(facts.patientKey);
    if (group === undefined) {
      group = [];
      groups.set(facts.patientKey, group);
    }
    const state = input.states.get(facts.studyInstanceUid) ?? NO_STATE;
    const sim: Sim = {
      facts: { ...facts, tiers: dedupe(facts.tiers) },
      state: { expiredAt: state.expiredAt, expiredBy: state.expiredBy },
      holds,
      group,
      patientStudies: [],
      purged: false,
    };
    group.push(sim);
    sims.push(sim);
  }
  for (const group of groups.values()) setGroup(group);

  const options = { explain: false };
  const result: SimulationMonth[] = [];
  for (let month = 1; month <= input.months; month++) {
    const now = monthsAfter(input.start, month);
    const nowIso = now.toISOString();
    const moves: Record<string, number> = {};
    let expiries = 0;
    let purges = 0;
    let purgedBytes = 0;
    let blockedExpiries = 0;
    let blockedPurges = 0;
    const blockedHolds = new Set<string>();
    const purgedGroups = new Set<Sim[]>();

    // Every study is evaluated against the state at the start of the month; purges leave the
    // patients' histories at the end of it.
    for (const sim of sims) {
      if (sim.purged) continue;
      const d = evaluate(
        {
          study: sim.facts,
          patientStudies: sim.patientStudies,
          holds: sim.holds,
          state: sim.state,
        },
        policies,
        now,
        options,
      );
      // As the sweeps do: retention runs first (a study it expires is not moved), and the
      // tiering sweep moves the whole study to the first due move's tier.
      const move = d.action.kind === 'expire' ? undefined : d.tiering.due[0];
      if (move) {
        sim.facts.tiers = [move.to];
        const key = `${move.from}→${move.to}`;
        moves[key] = (moves[key] ?? 0) + 1;
      }
      const action = d.action;
      switch (action.kind) {
        case 'expire':
          sim.state = { expiredAt: nowIso, expiredBy: 'retention' };
          expiries++;
          break;
        case 'purge':
          sim.purged = true;
          purges++;
          purgedBytes += sim.facts.sizeBytes;
          purgedGroups.add(sim.group);
          break;
        case 'blocked':
          if (action.by === 'expire') blockedExpiries++;
          else blockedPurges++;
          for (const id of action.holds) blockedHolds.add(id);
          break;
        case 'none':
          break;
      }
    }
    for (const group of purgedGroups) setGroup(group);

    const tiers: Record<TierName, TierTally> = {
      hot: { studies: 0, bytes: 0 },
      warm: { studies: 0, bytes: 0 },
      cold: { studies: 0, bytes: 0 },
    };
    const expired: TierTally = { studies: 0, bytes: 0 };
    for (const sim of sims) {
      if (sim.purged) continue;
      const size = sim.facts.sizeBytes;
      for (const t of sim.facts.tiers) {
        const tally = tiers[t];
        tally.studies++;
        tally.bytes += size;
      }
      if (sim.state.expiredAt !== null) {
        expired.studies++;
        expired.bytes += size;
      }
    }

    result.push({
      month,
      date: nowIso.slice(0, 10),
      tiers,
      expired,
      expiries,
      purges,
      purgedBytes,
      moves,
      blocked: {
        expiries: blockedExpiries,
        purges: blockedPurges,
        holds: [...blockedHolds].sort(),
      },
    });
  }
  return result;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function dedupe(tiers: TierName[]): TierName[] {
  const out: TierName[] = [];
  for (const t of tiers) if (!out.includes(t)) out.push(t);
  return out;
}

/** Drops the patient's purged studies and gives the rest one shared list of their facts. */
function setGroup(group: Sim[]): void {
  let w = 0;
  for (const sim of group) if (!sim.purged) group[w++] = sim;
  group.length = w;
  const studies = group.map((s) => s.facts);
  for (const sim of group) sim.patientStudies = studies;
}
