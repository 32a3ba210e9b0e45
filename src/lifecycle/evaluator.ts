import { type ConditionContext, check, studyDay, testEach } from './conditions.js';
import { addDays, addDuration, addMonths, dayOf } from './dates.js';
import {
  type LifecycleAction,
  type LifecycleDecision,
  type RetentionDecision,
  type RetentionMatch,
  type TieringDecision,
  type TieringMatch,
} from './decision.js';
import { type EvaluationInput, type StudyFacts } from './facts.js';
import { type LifecycleSettings, type PolicySet, type RetentionRule } from './policy-model.js';

/**
 * The lifecycle evaluator: what the policies say about one study at a given moment. A pure,
 * deterministic function of its arguments (no clock, no I/O): the sweep, `explain` and the
 * simulator all call it.
 */

export interface EvaluateOptions {
  /**
   * Build the human-readable parts: reasons (`why`), `computation` texts and `notMatched`
   * (default true). Sweeps and the simulator pass false: the verdicts, dates and actions are the
   * same, the strings are empty and `notMatched` is [].
   */
  explain?: boolean;
}

/** `now` as an ISO timestamp and a UTC day, for the last `now` seen (the simulator reuses one). */
let stampTime = NaN;
let stampIso = '';
let stampDay = '';

function stamp(now: Date): void {
  const t = now.getTime();
  if (t !== stampTime) {
    stampIso = now.toISOString(); // throws RangeError on an invalid Date
    stampTime = t;
    stampDay = stampIso.slice(0, 10);
  }
}

export function evaluate(
  input: EvaluationInput,
  policies: PolicySet,
  now: Date,
  options?: EvaluateOptions,
): LifecycleDecision {
  const explain = options?.explain ?? true;
  stamp(now);
  const at = stampIso;
  const today = stampDay;
  const { study, state, holds } = input;
  const ctx: ConditionContext = { study, patientStudies: input.patientStudies, today };

  const retention = evaluateRetention(input, ctx, policies, explain);
  const tiering = evaluateTiering(input, ctx, policies, explain);

  let purgeOn: string | null = null;
  let action: LifecycleAction;
  if (state.expiredAt !== null) {
    purgeOn = addDays(dayOf(state.expiredAt), policies.settings.purgeGraceDays);
    if (today >= purgeOn) {
      action =
        holds.length > 0
          ? { kind: 'blocked', by: 'purge', holds: holds.map((h) => h.id) }
          : { kind: 'purge' };
    } else {
      action = { kind: 'none' };
    }
  } else if (retention.ended) {
    action =
      holds.length > 0
        ? { kind: 'blocked', by: 'expire', holds: holds.map((h) => h.id) }
        : { kind: 'expire', rule: retention.rule };
  } else {
    action = { kind: 'none' };
  }

  return {
    studyInstanceUid: study.studyInstanceUid,
    at,
    policyVersion: policies.version,
    retention,
    tiering,
    holds,
    expiredAt: state.expiredAt,
    purgeOn,
    action,
  };
}

// ---------------------------------------------------------------------------------------------
// Retention

function evaluateRetention(
  input: EvaluationInput,
  ctx: ConditionContext,
  policies: PolicySet,
  explain: boolean,
): RetentionDecision {
  const matched: RetentionMatch[] = [];
  const notMatched: RetentionDecision['notMatched'] = [];
  let winner: RetentionMatch | null = null;
  let winnerKeeps = false; // the winner keeps forever (or could not compute a date)

  for (const rule of policies.retention) {
    let why: string[];
    if (explain) {
      const r = testEach(rule.when, ctx);
      if (!r.ok) {
        notMatched.push({ rule: rule.id, file: rule.file, why: r.why[0] });
        continue;
      }
      why = r.why;
    } else {
      if (!check(rule.when, ctx)) continue;
      why = [];
    }
    const m = retentionMatch(rule, input, policies.settings, why, explain);
    matched.push(m);
    if (winnerKeeps) continue;
    if (m.until === null) {
      winner = m;
      winnerKeeps = true;
    } else if (winner === null || m.until > (winner.until as string)) {
      winner = m;
    }
  }

  if (winner === null) {
    return { forever: true, until: null, rule: null, matched, notMatched, ended: false };
  }
  winner.won = true;
  const until = winner.until;
  return {
    forever: until === null,
    until,
    rule: winner.rule,
    matched,
    notMatched,
    ended: until !== null && ctx.today >= until,
  };
}

function retentionMatch(
  rule: RetentionRule,
  input: EvaluationInput,
  settings: LifecycleSettings,
  why: string[],
  explain: boolean,
): RetentionMatch {
  const keep = rule.keep;
  if (keep.forever) {
    return {
      rule: rule.id,
      file: rule.file,
      why,
      until: null,
      forever: true,
      undetermined: null,
      computation: explain ? 'kept forever' : '',
      won: false,
    };
  }
  const study = input.study;
  const receiveDay = dayOf(study.receivedAt);
  const base = study.studyDate ?? receiveDay;
  const baseLabel = study.studyDate !== null ? 'the study date' : 'the receive date';

  let anchor: string;
  let anchorText = '';
  switch (keep.from) {
    case 'study-date':
      anchor = base;
      if (explain) {
        anchorText =
          study.studyDate !== null
            ? `the study date (${anchor})`
            : `the receive date (${anchor}; the study has no study date)`;
      }
      break;
    case 'receive-date':
      anchor = receiveDay;
      if (explain) anchorText = `the receive date (${anchor})`;
      break;
    case 'last-study':
      anchor = lastStudyDay(study, base, input.patientStudies);
      if (explain) anchorText = `the patient's last study (${anchor})`;
      break;
    case 'age-of-majority':
      if (study.birthDate === null) {
        const reason = `no birth date: the age of majority (${settings.ageOfMajority}) is unknown`;
        return {
          rule: rule.id,
          file: rule.file,
          why,
          until: null,
          forever: false,
          undetermined: reason,
          computation: explain ? `${keep.period.text} from the age of majority: ${reason}` : '',
          won: false,
        };
      }
      anchor = addMonths(study.birthDate, settings.ageOfMajority * 12);
      if (explain) {
        anchorText = `the age of majority (${settings.ageOfMajority}, on ${anchor}, born ${study.birthDate})`;
      }
      break;
  }

  let until = addDuration(anchor, keep.period);
  let computation = explain ? `${keep.period.text} from ${anchorText} = ${until}` : '';
  if (rule.atLeast !== null) {
    const min = addDuration(base, rule.atLeast);
    if (until < min) {
      until = min;
      if (explain) {
        computation += `, raised to the minimum ${rule.atLeast.text} from ${baseLabel} (${base}) = ${min}`;
      }
    }
  }
  if (rule.atMost !== null) {
    const max = addDuration(base, rule.atMost);
    if (until > max) {
      until = max;
      if (explain) {
        computation += `, lowered to the maximum ${rule.atMost.text} from ${baseLabel} (${base}) = ${max}`;
      }
    }
  }
  return {
    rule: rule.id,
    file: rule.file,
    why,
    until,
    forever: false,
    undetermined: null,
    computation,
    won: false,
  };
}

/** The latest date (study date, else receipt) over the patient's studies, this one included. */
function lastStudyDay(study: StudyFacts, day: string, patientStudies: readonly StudyFacts[]) {
  let last = day;
  for (const s of patientStudies) {
    if (s === study) continue;
    const d = studyDay(s);
    if (d > last) last = d;
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// Tiering

function evaluateTiering(
  input: EvaluationInput,
  ctx: ConditionContext,
  policies: PolicySet,
  explain: boolean,
): TieringDecision {
  const { study, state } = input;
  const current = study.tiers.slice();
  const expired = state.expiredAt !== null;
  if (expired && !explain) return { current, due: [], next: null, matched: [] };

  const matched: TieringMatch[] = [];
  for (const rule of policies.tiering) {
    if (!current.includes(rule.from)) continue;
    let why: string[];
    if (explain) {
      const r = testEach(rule.when, ctx);
      if (!r.ok) continue;
      why = r.why;
    } else {
      if (!check(rule.when, ctx)) continue;
      why = [];
    }
    let anchor: string;
    let anchorText = '';
    if (rule.since === 'receipt') {
      anchor = dayOf(study.receivedAt);
      if (explain) anchorText = `receipt (${anchor})`;
    } else if (study.lastAccessedAt !== null) {
      anchor = dayOf(study.lastAccessedAt);
      if (explain) anchorText = `the last access (${anchor})`;
    } else {
      anchor = dayOf(study.receivedAt);
      if (explain) anchorText = `the last access (never read: receipt, ${anchor})`;
    }
    const dueOn = addDuration(anchor, rule.after);
    matched.push({
      rule: rule.id,
      file: rule.file,
      why,
      from: rule.from,
      to: rule.to,
      dueOn,
      computation: explain ? `${rule.after.text} from ${anchorText} = ${dueOn}` : '',
    });
  }
  if (expired) return { current, due: [], next: null, matched };

  // Due: at most one per source tier, the most advanced step (latest dueOn; ties: file order).
  const due: TieringMatch[] = [];
  let next: TieringMatch | null = null;
  const today = ctx.today;
  for (const m of matched) {
    if (today >= m.dueOn) {
      let i = 0;
      while (i < due.length && due[i].from !== m.from) i++;
      if (i === due.length) due.push(m);
      else if (m.dueOn > due[i].dueOn) due[i] = m;
    } else if (next === null || m.dueOn < next.dueOn) {
      next = m;
    }
  }
  return { current, due, next, matched };
}
