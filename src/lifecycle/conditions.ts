import { ageOn, dayOf, subtractDuration } from './dates.js';
import { type StudyFacts } from './facts.js';
import { type Condition, type Duration, type SetFact } from './policy-model.js';

/**
 * Evaluates policy conditions on the facts of a study. Pure; what is cached (compiled patterns,
 * normalized value lists, descriptions, dates counted back from the evaluation day) depends only
 * on its key.
 */

export interface ConditionContext {
  /** The study the condition is about. */
  study: StudyFacts;
  /** All studies of the same patient, the subject included (for `laterStudy`). */
  patientStudies: readonly StudyFacts[];
  /** The evaluation day (YYYY-MM-DD, UTC). */
  today: string;
}

export interface ConditionResult {
  ok: boolean;
  /** A short human reason: why the condition held, or why it did not. */
  why: string;
}

/** Where the reason is written; null when the caller wants only the verdict (no strings built). */
interface Out {
  why: string;
}

/** Whether the condition holds, with the reason. */
export function test(cond: Condition, ctx: ConditionContext): ConditionResult {
  const out: Out = { why: '' };
  const ok = evalCond(cond, ctx.study, ctx, out);
  return { ok, why: out.why };
}

/** Whether the condition holds, building no reason (the fast path for sweeps and the simulator). */
export function check(cond: Condition, ctx: ConditionContext): boolean {
  return evalCond(cond, ctx.study, ctx, null);
}

/**
 * Like `test`, with the reasons of a top-level `all` listed one by one when it holds (a rule's
 * `why` list); otherwise a single reason.
 */
export function testEach(cond: Condition, ctx: ConditionContext): { ok: boolean; why: string[] } {
  if (cond.kind !== 'all') {
    const r = test(cond, ctx);
    return { ok: r.ok, why: [r.why] };
  }
  const why: string[] = [];
  const out: Out = { why: '' };
  for (const c of cond.of) {
    if (!evalCond(c, ctx.study, ctx, out)) return { ok: false, why: [out.why] };
    why.push(out.why);
  }
  if (why.length === 0) why.push('every study');
  return { ok: true, why };
}

// ---------------------------------------------------------------------------------------------
// Caches

const regexCache = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    // No 'g' or 'y' flag: test() stays stateless.
    re = new RegExp(pattern, 'i');
    regexCache.set(pattern, re);
  }
  return re;
}

/** Normalized (trimmed, upper-case) value lists of `in` conditions, by list. */
const valueSets = new WeakMap<string[], Set<string>>();

function valueSet(values: string[]): Set<string> {
  let set = valueSets.get(values);
  if (set === undefined) {
    set = new Set(values.map(norm));
    valueSets.set(values, set);
  }
  return set;
}

/** Normalized study values (a small vocabulary: modalities, AE titles, source names...). */
const normCache = new Map<string, string>();

function norm(v: string): string {
  let n = normCache.get(v);
  if (n === undefined) {
    n = v.trim().toUpperCase();
    if (normCache.size >= 50_000) normCache.clear();
    normCache.set(v, n);
  }
  return n;
}

/** `today - d`, for the last `today` seen per period. */
const backCache = new WeakMap<Duration, { today: string; day: string }>();

function back(today: string, d: Duration): string {
  const hit = backCache.get(d);
  if (hit !== undefined && hit.today === today) return hit.day;
  const day = subtractDuration(today, d);
  backCache.set(d, { today, day });
  return day;
}

// ---------------------------------------------------------------------------------------------
// Facts

const FACT_LABEL: Record<SetFact, string> = {
  modality: 'modality',
  bodyPart: 'body part',
  sopClass: 'SOP class',
  sex: 'sex',
  source: 'source',
  callingAet: 'calling AE title',
  adapter: 'adapter',
  institution: 'institution',
};

function setValues(study: StudyFacts, fact: SetFact): readonly string[] | null {
  switch (fact) {
    case 'modality':
      return study.modalities;
    case 'bodyPart':
      return study.bodyParts;
    case 'sopClass':
      return study.sopClasses;
    case 'sex':
      return study.sex === null ? null : [study.sex];
    case 'source':
      return study.sources;
    case 'callingAet':
      return study.callingAets;
    case 'adapter':
      return study.adapters;
    case 'institution':
      return study.institutions;
  }
}

/** The date a study is placed at in the patient's history: its study date, else its receipt. */
export function studyDay(study: StudyFacts): string {
  return study.studyDate ?? dayOf(study.receivedAt);
}

// ---------------------------------------------------------------------------------------------
// Descriptions (the condition as text, for reasons of `not` and `laterStudy`)

const descriptions = new WeakMap<Condition, string>();

/** The condition written as text, e.g. `modality is one of [MG]`. */
export function describe(cond: Condition): string {
  let d = descriptions.get(cond);
  if (d === undefined) {
    d = describeUncached(cond);
    descriptions.set(cond, d);
  }
  return d;
}

function list(values: string[]): string {
  return '[' + values.join(', ') + ']';
}

function ageLabel(fact: 'ageAtStudy' | 'ageNow'): string {
  return fact === 'ageAtStudy' ? 'age at study' : 'age now';
}

const DATE_LABEL = {
  studyDate: 'study date',
  receiveDate: 'receive date',
  lastAccess: 'last access',
} as const;

function describeUncached(cond: Condition): string {
  switch (cond.kind) {
    case 'always':
      return 'every study';
    case 'all':
      return cond.of.length === 0 ? 'every study' : cond.of.map(nested).join(' and ');
    case 'any':
      return cond.of.length === 0 ? 'no study' : cond.of.map(nested).join(' or ');
    case 'not':
      return `not (${describe(cond.of)})`;
    case 'in':
      return `${FACT_LABEL[cond.fact]} is one of ${list(cond.values)}`;
    case 'matches':
      return `study description matches /${cond.pattern}/i`;
    case 'age':
      return `${ageLabel(cond.fact)} ${bounds('≥', cond.atLeast, cond.under)}`;
    case 'date': {
      const parts: string[] = [];
      if (cond.before !== undefined) parts.push(`before ${cond.before}`);
      if (cond.after !== undefined) parts.push(`after ${cond.after}`);
      if (cond.olderThan !== undefined) parts.push(`older than ${cond.olderThan.text}`);
      if (cond.within !== undefined) parts.push(`within ${cond.within.text}`);
      return `${DATE_LABEL[cond.fact]} ${parts.join(' and ')}`;
    }
    case 'size':
      return `size ${bounds('>', cond.over, cond.under)} bytes`;
    case 'laterStudy':
      return `patient has a later study matching (${describe(cond.where)})`;
  }
}

function nested(c: Condition): string {
  return c.kind === 'all' || c.kind === 'any' ? `(${describe(c)})` : describe(c);
}

/** The lower bound of an `age` condition is inclusive, that of a `size` condition exclusive. */
type LowOp = '≥' | '>';

/** The bounds of an `age` or `size` condition as text: `≥ 21 and < 65`, `> 1000`. */
function bounds(lowOp: LowOp, low: number | undefined, under: number | undefined): string {
  const parts: string[] = [];
  if (low !== undefined) parts.push(`${lowOp} ${low}`);
  if (under !== undefined) parts.push(`< ${under}`);
  return parts.join(' and ');
}

// ---------------------------------------------------------------------------------------------
// Evaluation

type ConditionOf<K extends Condition['kind']> = Extract<Condition, { kind: K }>;

/**
 * Evaluates a condition of one kind on `study` (the subject, or another study of its patient for
 * `laterStudy`): the verdict, and the reason in `out` unless it is null.
 */
type Evaluator<K extends Condition['kind']> = (
  cond: ConditionOf<K>,
  study: StudyFacts,
  ctx: ConditionContext,
  out: Out | null,
) => boolean;

function evalCond(
  cond: Condition,
  study: StudyFacts,
  ctx: ConditionContext,
  out: Out | null,
): boolean {
  switch (cond.kind) {
    case 'always':
      if (out) out.why = 'every study';
      return true;
    case 'all':
      return evalAll(cond, study, ctx, out);
    case 'any':
      return evalAny(cond, study, ctx, out);
    case 'not': {
      const inner = evalCond(cond.of, study, ctx, out);
      // When `not` fails, the inner reason (why the inner condition held) is the reason.
      if (out && !inner) out.why = `not (${describe(cond.of)})`;
      return !inner;
    }
    case 'in':
      return evalIn(cond.fact, cond.values, study, out);
    case 'matches': {
      const desc = study.studyDescription;
      if (desc === null) {
        if (out) out.why = 'no study description';
        return false;
      }
      const ok = regex(cond.pattern).test(desc);
      if (out) {
        out.why = `study description "${desc}" ${ok ? 'matches' : 'does not match'} /${cond.pattern}/i`;
      }
      return ok;
    }
    case 'age':
      return evalAge(cond, study, ctx, out);
    case 'date':
      return evalDate(cond, study, ctx, out);
    case 'size':
      return evalBounds('size', study.sizeBytes, ' bytes', '>', cond.over, cond.under, out);
    case 'laterStudy':
      return evalLater(cond, study, ctx, out);
  }
}

const evalAll: Evaluator<'all'> = ({ of }, study, ctx, out) => {
  if (out === null) {
    for (const c of of) if (!evalCond(c, study, ctx, null)) return false;
    return true;
  }
  const reasons: string[] = [];
  for (const c of of) {
    if (!evalCond(c, study, ctx, out)) return false; // out.why: the first reason it failed
    reasons.push(out.why);
  }
  out.why = reasons.length === 0 ? 'every study' : reasons.join(' and ');
  return true;
};

const evalAny: Evaluator<'any'> = ({ of }, study, ctx, out) => {
  if (out === null) {
    for (const c of of) if (evalCond(c, study, ctx, null)) return true;
    return false;
  }
  const reasons: string[] = [];
  for (const c of of) {
    if (evalCond(c, study, ctx, out)) return true; // out.why: the first reason it held
    reasons.push(out.why);
  }
  out.why = reasons.length === 0 ? 'no alternative' : `none of: ${reasons.join('; ')}`;
  return false;
};

function evalIn(fact: SetFact, values: string[], study: StudyFacts, out: Out | null): boolean {
  const set = valueSet(values);
  const have = setValues(study, fact);
  if (have !== null) {
    for (const v of have) {
      if (set.has(norm(v))) {
        if (out) out.why = `${FACT_LABEL[fact]} ${v.trim()} is one of ${list(values)}`;
        return true;
      }
    }
  }
  if (out) {
    out.why =
      have === null || have.length === 0
        ? `no ${FACT_LABEL[fact]}: not one of ${list(values)}`
        : `${FACT_LABEL[fact]} ${have.map((v) => v.trim()).join(', ')} is not one of ${list(values)}`;
  }
  return false;
}

const evalAge: Evaluator<'age'> = (cond, study, ctx, out) => {
  const birth = study.birthDate;
  if (birth === null) {
    if (out) out.why = 'no birth date: age unknown';
    return false;
  }
  const age = ageOn(birth, cond.fact === 'ageAtStudy' ? studyDay(study) : ctx.today);
  return evalBounds(ageLabel(cond.fact), age, '', '≥', cond.atLeast, cond.under, out);
};

/**
 * A number against the bounds of an `age` (`≥ atLeast`) or `size` (`> over`) condition and its
 * `< under`, either optional. The reason names the value as `${what} ${value}${unit}`: `age at
 * study 49 is not < 21`, `size 50000 bytes > 10000`.
 */
function evalBounds(
  what: string,
  value: number,
  unit: string,
  lowOp: LowOp,
  low: number | undefined,
  under: number | undefined,
  out: Out | null,
): boolean {
  if (low !== undefined && !(lowOp === '≥' ? value >= low : value > low)) {
    if (out) out.why = `${what} ${value}${unit} is not ${lowOp} ${low}`;
    return false;
  }
  if (under !== undefined && !(value < under)) {
    if (out) out.why = `${what} ${value}${unit} is not < ${under}`;
    return false;
  }
  if (out) out.why = `${what} ${value}${unit} ${bounds(lowOp, low, under)}`;
  return true;
}

const evalDate: Evaluator<'date'> = (cond, study, ctx, out) => {
  let value: string;
  let label: string = DATE_LABEL[cond.fact];
  switch (cond.fact) {
    case 'studyDate':
      if (study.studyDate === null) {
        if (out) out.why = 'no study date';
        return false;
      }
      value = study.studyDate;
      break;
    case 'receiveDate':
      value = dayOf(study.receivedAt);
      break;
    case 'lastAccess':
      if (study.lastAccessedAt === null) {
        value = dayOf(study.receivedAt);
        if (out) label = 'last access (never read: receipt)';
      } else {
        value = dayOf(study.lastAccessedAt);
      }
      break;
  }
  if (cond.before !== undefined && !(value < cond.before)) {
    if (out) out.why = `${label} ${value} is not before ${cond.before}`;
    return false;
  }
  if (cond.after !== undefined && !(value > cond.after)) {
    if (out) out.why = `${label} ${value} is not after ${cond.after}`;
    return false;
  }
  if (cond.olderThan !== undefined && !(value <= back(ctx.today, cond.olderThan))) {
    if (out) {
      const limit = back(ctx.today, cond.olderThan);
      out.why = `${label} ${value} is not older than ${cond.olderThan.text} (on or before ${limit})`;
    }
    return false;
  }
  if (cond.within !== undefined && !(value > back(ctx.today, cond.within))) {
    if (out) {
      const limit = back(ctx.today, cond.within);
      out.why = `${label} ${value} is not within ${cond.within.text} (after ${limit})`;
    }
    return false;
  }
  if (out) {
    const parts: string[] = [];
    if (cond.before !== undefined) parts.push(`before ${cond.before}`);
    if (cond.after !== undefined) parts.push(`after ${cond.after}`);
    if (cond.olderThan !== undefined) {
      parts.push(
        `older than ${cond.olderThan.text} (on or before ${back(ctx.today, cond.olderThan)})`,
      );
    }
    if (cond.within !== undefined) {
      parts.push(`within ${cond.within.text} (after ${back(ctx.today, cond.within)})`);
    }
    out.why = `${label} ${value} is ${parts.join(' and ')}`;
  }
  return true;
};

const evalLater: Evaluator<'laterStudy'> = ({ where }, study, ctx, out) => {
  const day = studyDay(study);
  const uid = study.studyInstanceUid;
  if (out === null) {
    for (const other of ctx.patientStudies) {
      if (other.studyInstanceUid === uid || !(studyDay(other) > day)) continue;
      if (evalCond(where, other, ctx, null)) return true;
    }
    return false;
  }
  // Explaining: name the earliest later study that matches (the next one after this study).
  let best: StudyFacts | null = null;
  let bestDay = '';
  let bestWhy = '';
  for (const other of ctx.patientStudies) {
    if (other.studyInstanceUid === uid) continue;
    const otherDay = studyDay(other);
    if (!(otherDay > day) || (best !== null && otherDay >= bestDay)) continue;
    if (evalCond(where, other, ctx, out)) {
      best = other;
      bestDay = otherDay;
      bestWhy = out.why;
    }
  }
  out.why =
    best === null
      ? `patient has no later study matching (${describe(where)})`
      : `patient has a later study on ${bestDay} matching (${bestWhy})`;
  return best !== null;
};
