import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
} from 'yaml';
import { TIER_NAMES, type TierName } from '../config/index.js';
import { parseDuration } from './duration.js';
import {
  type AgeFact,
  type Condition,
  type DateFact,
  type Duration,
  type LifecycleSettings,
  type RetentionAnchor,
  type RetentionRule,
  type SetFact,
  type TieringAnchor,
  type TieringRule,
} from './policy-model.js';

/**
 * The grammar of the lifecycle policy files (lifecycle.yaml, retention/*.yaml, tiering/*.yaml),
 * checked by walking the YAML nodes so that every problem is reported with the line of the
 * offending key or value and a message an archivist can act on. policy-loader.ts finds the files
 * and assembles the PolicySet; policies/README.md documents the grammar for people.
 */

/** One problem in a policy set. `file` is relative to the policies directory. */
export interface PolicyIssue {
  file: string;
  /** 1-based line of the offending key or value; null when the problem is the file itself. */
  line: number | null;
  /** Where in the file: 'rules[0].keep.from', 'ageOfMajority'; '' for the whole file. */
  key: string;
  message: string;
}

export const DEFAULT_SETTINGS: LifecycleSettings = {
  ageOfMajority: 21,
  purgeGraceDays: 30,
  // Without a lifecycle.yaml nothing moves on its own: the shipped one turns recalls on.
  recallOnAccess: false,
};

export const RETENTION_ANCHORS: readonly RetentionAnchor[] = [
  'study-date',
  'receive-date',
  'last-study',
  'age-of-majority',
];
export const TIERING_ANCHORS: readonly TieringAnchor[] = ['last-access', 'receipt'];

/** A rule id: lower-case letters, digits and hyphens, at most 63 characters. */
export const RULE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

const SET_FACTS: readonly SetFact[] = [
  'modality',
  'bodyPart',
  'sopClass',
  'sex',
  'source',
  'callingAet',
  'adapter',
  'institution',
];
const AGE_FACTS: readonly AgeFact[] = ['ageAtStudy', 'ageNow'];
const DATE_FACTS: readonly DateFact[] = ['studyDate', 'receiveDate', 'lastAccess'];
const CONDITION_KEYS: readonly string[] = [
  'all',
  'any',
  'not',
  ...SET_FACTS,
  'studyDescription',
  ...AGE_FACTS,
  ...DATE_FACTS,
  'size',
  'laterStudy',
];
const SETTINGS_KEYS = ['ageOfMajority', 'purgeGraceDays', 'recallOnAccess'] as const;
const RETENTION_KEYS = ['id', 'description', 'when', 'keep', 'atLeast', 'atMost'] as const;
const TIERING_KEYS = ['id', 'description', 'when', 'from', 'to', 'after', 'since'] as const;
const CONDITION_EXAMPLE = "a condition such as '{ modality: MG }'";
const MAX_AGE = 150;

// ---------------------------------------------------------------------------------------------
// Sizes

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/**
 * Parses a size: a whole number of bytes (1500000) or a number and a unit ('500 MB', '1.5 GiB'):
 * B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). Returns bytes,
 * rounded to a whole number. Throws an Error saying what is wrong.
 */
export function parseSize(value: number | string): number {
  const expected = "expected a size such as '500 MB', '2 GiB' or a number of bytes";
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`${expected}, got ${value} (a number of bytes must be a whole number ≥ 0)`);
    }
    return value;
  }
  const text = value.trim();
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text);
  if (!m) {
    const why = text.startsWith('-') ? ' (a size cannot be negative)' : '';
    throw new Error(`${expected}, got '${text}'${why}`);
  }
  const unitText = m[2]!;
  const unit = unitText === '' ? 1 : SIZE_UNITS[unitText];
  if (unit === undefined) {
    throw new Error(
      `${expected}, got '${text}' (unknown unit '${unitText}'; use ${Object.keys(SIZE_UNITS).join(', ')})`,
    );
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new Error(`${expected}, got '${text}' (too large)`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Walking YAML nodes

/** Which rule ids were seen where, across every file of a set (ids are unique in the set). */
export type RuleIds = Map<string, { file: string; line: number | null }>;

/** One policy file, parsed. `root` is null when it has YAML syntax errors (reported in issues). */
export class PolicyFile {
  readonly issues: PolicyIssue[] = [];
  readonly root: Val | null;
  private readonly lineCounter = new LineCounter();
  readonly doc: Document;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lineCounter, prettyErrors: true });
    // An error found at the end of the file (an unclosed quote) is shown on its last line.
    const lastLine = Math.max(1, text.trimEnd().split('\n').length);
    for (const error of this.doc.errors) this.syntaxError(error, lastLine);
    this.root = this.doc.errors.length > 0 ? null : new Val(this, this.doc.contents, null, '');
  }

  lineOf(node: unknown): number | null {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? this.lineCounter.linePos(range[0]).line : null;
  }

  report(line: number | null, key: string, message: string): void {
    this.issues.push({ file: this.file, line, key, message });
  }

  private syntaxError(error: YAMLError, lastLine: number): void {
    const at = error.linePos?.[0].line;
    const line = at === undefined ? null : Math.min(at, lastLine);
    let message: string;
    switch (error.code) {
      case 'MULTIPLE_DOCS':
        message = "a policy file holds one YAML document: remove the '---' line";
        break;
      case 'DUPLICATE_KEY':
        message = 'the same key appears twice in one mapping';
        break;
      case 'TAB_AS_INDENT':
        message = 'YAML syntax error: indent with spaces, not tabs';
        break;
      default:
        message = `YAML syntax error: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
    }
    this.report(line, '', message);
  }
}

/** A value in a policy file, with where it is (its key and path) for error messages. */
class Val {
  readonly node: unknown;

  constructor(
    readonly file: PolicyFile,
    node: unknown,
    /** The key node holding this value in its mapping; null for list items and the root. */
    readonly keyNode: unknown,
    readonly path: string,
  ) {
    let resolved = node;
    if (isAlias(resolved)) resolved = resolved.resolve(file.doc);
    this.node = resolved ?? null;
  }

  /** The line of the value, or of its key when the value is empty. */
  get line(): number | null {
    if (this.isNothing) return this.keyLine;
    return this.file.lineOf(this.node) ?? this.file.lineOf(this.keyNode);
  }

  /** The line of the key holding the value (the value's own line for list items). */
  get keyLine(): number | null {
    return this.file.lineOf(this.keyNode) ?? this.file.lineOf(this.node);
  }

  get isNothing(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  /** The scalar's value (string, number, boolean), or undefined for a mapping or list. */
  get scalar(): unknown {
    return isScalar(this.node) ? this.node.value : undefined;
  }

  error(message: string, line: number | null = this.line): void {
    this.file.report(line, this.path, message);
  }

  /** 'nothing', 'a mapping', 'a list', "'text'", '12', 'true'. */
  describe(): string {
    if (this.isNothing) return 'nothing';
    if (isMap(this.node)) return isEmptyCollection(this.node) ? 'an empty mapping {}' : 'a mapping';
    if (isSeq(this.node)) return isEmptyCollection(this.node) ? 'an empty list []' : 'a list';
    const v = this.scalar;
    if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
    return String(v);
  }

  /** Reports "expected X, got Y", with a hint to quote numbers and booleans given for text. */
  expected(what: string, hint = ''): void {
    const v = this.scalar;
    const quote =
      hint === '' && (typeof v === 'number' || typeof v === 'boolean') && what.includes('text')
        ? ` (write it in quotes: '${String(v)}')`
        : hint;
    this.error(`expected ${what}, got ${this.describe()}${quote}`);
  }

  /**
   * The entries of a mapping, reporting unknown keys (at the key's line). Undefined (and reported)
   * when the value is not a mapping.
   */
  entries(allowed: readonly string[], what: string): Map<string, Val> | undefined {
    if (!isMap(this.node)) {
      this.expected(what);
      return undefined;
    }
    const out = new Map<string, Val>();
    for (const pair of this.node.items) {
      const keyNode = isAlias(pair.key) ? pair.key.resolve(this.file.doc) : pair.key;
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      const keyLine = this.file.lineOf(keyNode) ?? this.line;
      if (key === null || key === undefined || key === '') {
        this.file.report(keyLine, this.path, 'a key is missing before the colon');
        continue;
      }
      if (typeof key !== 'string' || !allowed.includes(key)) {
        const name = String(key);
        this.file.report(keyLine, this.path, `unknown key '${name}'${suggest(name, allowed)}`);
        continue;
      }
      out.set(
        key,
        new Val(this.file, pair.value, keyNode, this.path ? `${this.path}.${key}` : key),
      );
    }
    return out;
  }

  /** The items of a list; undefined (and reported) when the value is not a list. */
  items(what: string, hint = ''): Val[] | undefined {
    if (!isSeq(this.node)) {
      this.expected(what, hint);
      return undefined;
    }
    return this.node.items.map((item, i) => new Val(this.file, item, null, `${this.path}[${i}]`));
  }

  /** Reports a required key missing from this mapping, at the line of the mapping's key. */
  missing(key: string, what: string): void {
    this.error(`missing required key '${key}' (${what})`, this.keyLine);
  }
}

function isEmptyCollection(node: unknown): boolean {
  return (node as { items: unknown[] }).items.length === 0;
}

/** " (did you mean 'modality'?)" for a near miss, else the list of allowed keys. */
function suggest(name: string, allowed: readonly string[]): string {
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const limit = name.length <= 3 ? 1 : name.length <= 6 ? 2 : 3;
  if (best !== null && bestDistance <= limit) return ` (did you mean '${best}'?)`;
  return ` (expected one of: ${allowed.join(', ')})`;
}

/** Levenshtein distance, with a transposition counted as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Scalars

function readDuration(v: Val): Duration | undefined {
  const s = v.scalar;
  if (typeof s !== 'string' && typeof s !== 'number') {
    v.expected("a duration such as '10 years'");
    return undefined;
  }
  try {
    return parseDuration(String(s));
  } catch (e) {
    v.error((e as Error).message);
    return undefined;
  }
}

function readText(v: Val, what = 'text'): string | undefined {
  const s = v.scalar;
  if (typeof s !== 'string' || s.trim() === '') {
    v.expected(what);
    return undefined;
  }
  return s;
}

function readEnum<T extends string>(v: Val, values: readonly T[]): T | undefined {
  const s = v.scalar;
  if (typeof s === 'string' && (values as readonly string[]).includes(s)) return s as T;
  v.error(`must be one of ${values.join(', ')}, got ${v.describe()}`);
  return undefined;
}

function readInteger(v: Val, min: number, max: number, what: string): number | undefined {
  const s = v.scalar;
  if (typeof s === 'number' && Number.isInteger(s) && s >= min && s <= max) return s;
  const hint = typeof s === 'string' && /^\s*\d+\s*$/.test(s) ? ' (write it without quotes)' : '';
  v.error(`expected ${what} from ${min} to ${max}, got ${v.describe()}${hint}`);
  return undefined;
}

function readBoolean(v: Val): boolean | undefined {
  const s = v.scalar;
  if (typeof s === 'boolean') return s;
  v.error(`expected true or false, got ${v.describe()}`);
  return undefined;
}

/** A calendar date YYYY-MM-DD that exists (no 2023-02-29). */
function readDate(v: Val): string | undefined {
  const s = v.scalar;
  const what = 'a date as YYYY-MM-DD';
  if (typeof s !== 'string') {
    v.expected(what);
    return undefined;
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s.trim());
  if (!m) {
    v.expected(what);
    return undefined;
  }
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    v.error(`'${s.trim()}' is not a calendar date`);
    return undefined;
  }
  return s.trim();
}

/** Runs `read` and tells whether it reported anything. */
function clean(file: PolicyFile, read: () => void): boolean {
  const before = file.issues.length;
  read();
  return file.issues.length === before;
}

// ---------------------------------------------------------------------------------------------
// Conditions

/** Reads a condition (the value of `when`, or nested in all/any/not/laterStudy). */
function readCondition(v: Val, settings: LifecycleSettings): Condition | undefined {
  if (isMap(v.node) && v.node.items.length === 0) {
    v.error("a condition needs at least one key (to match every study, leave out 'when')");
    return undefined;
  }
  const parts: Condition[] = [];
  const ok = clean(v.file, () => {
    const entries = v.entries(CONDITION_KEYS, CONDITION_EXAMPLE);
    for (const [key, value] of entries ?? []) {
      const c = readConditionKey(key, value, settings);
      if (c) parts.push(c);
    }
  });
  if (!ok || parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { kind: 'all', of: parts };
}

function readConditionKey(key: string, v: Val, settings: LifecycleSettings): Condition | undefined {
  if (key === 'all' || key === 'any') {
    const items = v.items(
      'a list of conditions',
      isMap(v.node) ? " (write each condition as a list item: '- modality: MG')" : '',
    );
    if (!items) return undefined;
    if (items.length === 0) {
      v.error('expected a list of at least one condition, got an empty list []');
      return undefined;
    }
    const of: Condition[] = [];
    const ok = clean(v.file, () => {
      for (const item of items) {
        const c = readCondition(item, settings);
        if (c) of.push(c);
      }
    });
    return ok ? { kind: key, of } : undefined;
  }
  if (key === 'not') {
    const of = readCondition(v, settings);
    return of && { kind: 'not', of };
  }
  if (key === 'laterStudy') {
    const where = readCondition(v, settings);
    return where && { kind: 'laterStudy', where };
  }
  if ((SET_FACTS as readonly string[]).includes(key)) return readIn(key as SetFact, v);
  if (key === 'studyDescription') {
    const pattern = readText(v, 'a regular expression (text)');
    if (pattern === undefined) return undefined;
    try {
      new RegExp(pattern, 'i');
    } catch (e) {
      const reason = (e as Error).message.split(': ').pop()!;
      v.error(`invalid regular expression '${pattern}': ${reason.toLowerCase()}`);
      return undefined;
    }
    return { kind: 'matches', fact: 'studyDescription', pattern };
  }
  if ((AGE_FACTS as readonly string[]).includes(key)) return readAge(key as AgeFact, v, settings);
  if ((DATE_FACTS as readonly string[]).includes(key)) return readDateCondition(key as DateFact, v);
  if (key === 'size') return readSizeCondition(v);
  throw new Error(`unhandled condition key ${key}`);
}

function readIn(fact: SetFact, v: Val): Condition | undefined {
  const what = 'text or a list of texts';
  if (isScalar(v.node) && !v.isNothing) {
    const value = readText(v, what);
    return value === undefined ? undefined : { kind: 'in', fact, values: [value] };
  }
  const items = v.items(what);
  if (!items) return undefined;
  if (items.length === 0) {
    v.error(`expected at least one value, got an empty list []`);
    return undefined;
  }
  const values: string[] = [];
  const ok = clean(v.file, () => {
    for (const item of items) {
      const value = readText(item);
      if (value !== undefined) values.push(value);
    }
  });
  return ok ? { kind: 'in', fact, values } : undefined;
}

function readAge(fact: AgeFact, v: Val, settings: LifecycleSettings): Condition | undefined {
  const before = v.file.issues.length;
  const entries = v.entries(['under', 'atLeast'], "age bounds such as '{ atLeast: majority }'");
  if (!entries) return undefined;
  const out: { kind: 'age'; fact: AgeFact; under?: number; atLeast?: number } = {
    kind: 'age',
    fact,
  };
  const ok = clean(v.file, () => {
    for (const [key, value] of entries) {
      const s = value.scalar;
      if (s === 'majority') out[key as 'under' | 'atLeast'] = settings.ageOfMajority;
      else if (typeof s === 'number' && Number.isInteger(s) && s >= 0 && s <= MAX_AGE) {
        out[key as 'under' | 'atLeast'] = s;
      } else {
        value.error(
          `expected a whole number of years from 0 to ${MAX_AGE} or 'majority', got ${value.describe()}`,
        );
      }
    }
  });
  if (!ok || v.file.issues.length > before) return undefined;
  if (entries.size === 0) {
    v.error("give 'under', 'atLeast' or both");
    return undefined;
  }
  if (out.under !== undefined && out.atLeast !== undefined && out.under <= out.atLeast) {
    v.error(
      `never true: 'under' (${out.under}) must be more than 'atLeast' (${out.atLeast})`,
      v.keyLine,
    );
    return undefined;
  }
  return out;
}

function readDateCondition(fact: DateFact, v: Val): Condition | undefined {
  const before = v.file.issues.length;
  const entries = v.entries(
    ['before', 'after', 'olderThan', 'within'],
    "date bounds such as '{ before: 2010-01-01 }' or '{ olderThan: 5 years }'",
  );
  if (!entries) return undefined;
  const out: Extract<Condition, { kind: 'date' }> = { kind: 'date', fact };
  const ok = clean(v.file, () => {
    for (const [key, value] of entries) {
      if (key === 'before' || key === 'after') {
        const date = readDate(value);
        if (date !== undefined) out[key] = date;
      } else {
        const d = readDuration(value);
        if (d !== undefined) out[key as 'olderThan' | 'within'] = d;
      }
    }
  });
  if (!ok || v.file.issues.length > before) return undefined;
  if (entries.size === 0) {
    v.error("give at least one of 'before', 'after', 'olderThan', 'within'");
    return undefined;
  }
  if (out.before !== undefined && out.after !== undefined && out.after >= out.before) {
    v.error(
      `never true: 'after' (${out.after}) must be earlier than 'before' (${out.before})`,
      v.keyLine,
    );
    return undefined;
  }
  return out;
}

function readSizeCondition(v: Val): Condition | undefined {
  const before = v.file.issues.length;
  const entries = v.entries(['over', 'under'], "size bounds such as '{ over: 2 GB }'");
  if (!entries) return undefined;
  const out: { kind: 'size'; over?: number; under?: number } = { kind: 'size' };
  const ok = clean(v.file, () => {
    for (const [key, value] of entries) {
      const s = value.scalar;
      if (typeof s !== 'number' && typeof s !== 'string') {
        value.expected("a size such as '500 MB', '2 GiB' or a number of bytes");
        continue;
      }
      try {
        out[key as 'over' | 'under'] = parseSize(s);
      } catch (e) {
        value.error((e as Error).message);
      }
    }
  });
  if (!ok || v.file.issues.length > before) return undefined;
  if (entries.size === 0) {
    v.error("give 'over', 'under' or both");
    return undefined;
  }
  if (out.over !== undefined && out.under !== undefined && out.under <= out.over) {
    v.error(
      `never true: 'under' (${out.under} bytes) must be more than 'over' (${out.over} bytes)`,
      v.keyLine,
    );
    return undefined;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

/** lifecycle.yaml. Invalid or missing settings fall back to the defaults (issues are reported). */
export function readSettings(file: PolicyFile): LifecycleSettings {
  const settings = { ...DEFAULT_SETTINGS };
  const root = file.root;
  if (!root || root.isNothing) return settings;
  const entries = root.entries(
    SETTINGS_KEYS,
    'a mapping of settings (ageOfMajority, purgeGraceDays, recallOnAccess)',
  );
  if (!entries) return settings;
  for (const [key, v] of entries) {
    if (key === 'ageOfMajority') {
      settings.ageOfMajority =
        readInteger(v, 1, 30, 'a whole number of years') ?? settings.ageOfMajority;
    } else if (key === 'purgeGraceDays') {
      settings.purgeGraceDays =
        readInteger(v, 0, 3650, 'a whole number of days') ?? settings.purgeGraceDays;
    } else {
      settings.recallOnAccess = readBoolean(v) ?? settings.recallOnAccess;
    }
  }
  return settings;
}

/** The items of the `rules` list of a retention or tiering file. */
function ruleItems(file: PolicyFile, kind: 'retention' | 'tiering'): Val[] {
  const root = file.root;
  if (!root || root.isNothing) return [];
  if (isSeq(root.node)) {
    root.error("expected a mapping with a 'rules' list, got a list (start the file with 'rules:')");
    return [];
  }
  const entries = root.entries(['rules'], `a mapping with a 'rules' list of ${kind} rules`);
  const rules = entries?.get('rules');
  if (!rules || rules.isNothing) return [];
  return rules.items(`a list of ${kind} rules`) ?? [];
}

/** The fields common to both kinds of rule: id (checked for uniqueness), description, when. */
function readCommon(
  item: Val,
  entries: Map<string, Val>,
  ids: RuleIds,
  settings: LifecycleSettings,
): { id?: string; description: string | null; when?: Condition } {
  let id: string | undefined;
  const idVal = entries.get('id');
  if (!idVal) item.missing('id', 'a name for the rule, such as adult-10-years');
  else {
    const s = idVal.scalar;
    if (typeof s === 'string' && RULE_ID.test(s)) {
      const previous = ids.get(s);
      if (previous) {
        const where = previous.line === null ? previous.file : `${previous.file}:${previous.line}`;
        idVal.error(`duplicate rule id '${s}' (also used at ${where})`);
      } else {
        ids.set(s, { file: item.file.file, line: idVal.line });
        id = s;
      }
    } else {
      idVal.error(
        `expected an id of lower-case letters, digits and hyphens (at most 63, not starting with a hyphen), got ${idVal.describe()}`,
      );
    }
  }
  let description: string | null = null;
  const descVal = entries.get('description');
  if (descVal && !descVal.isNothing) description = readText(descVal) ?? null;
  const whenVal = entries.get('when');
  const when: Condition | undefined = whenVal
    ? readCondition(whenVal, settings)
    : { kind: 'always' };
  return { id, description, when };
}

export function readRetentionRules(
  file: PolicyFile,
  settings: LifecycleSettings,
  ids: RuleIds,
): RetentionRule[] {
  const rules: RetentionRule[] = [];
  for (const item of ruleItems(file, 'retention')) {
    const before = file.issues.length;
    const entries = item.entries(
      RETENTION_KEYS,
      'a retention rule (a mapping with id, when, keep)',
    );
    if (!entries) continue;
    const { id, description, when } = readCommon(item, entries, ids, settings);
    const keep = readKeep(item, entries.get('keep'));
    const atLeastVal = entries.get('atLeast');
    const atMostVal = entries.get('atMost');
    const atLeast = atLeastVal ? (readDuration(atLeastVal) ?? null) : null;
    const atMost = atMostVal ? (readDuration(atMostVal) ?? null) : null;
    if (file.issues.length > before || !id || !when || !keep) continue;
    rules.push({ id, file: file.file, description, when, keep, atLeast, atMost });
  }
  return rules;
}

function readKeep(item: Val, v: Val | undefined): RetentionRule['keep'] | undefined {
  const what = "'forever', or '{ for: <duration>, from: <anchor> }'";
  if (!v) {
    item.missing('keep', 'forever, or { for: <duration>, from: <anchor> }');
    return undefined;
  }
  if (v.scalar === 'forever') return { forever: true };
  if (!isMap(v.node)) {
    const hint =
      typeof v.scalar === 'string' && /^\s*\d/.test(v.scalar)
        ? ` (write '{ for: ${v.scalar}, from: study-date }' and choose the anchor)`
        : '';
    v.expected(what, hint);
    return undefined;
  }
  const entries = v.entries(['for', 'from'], what);
  if (!entries) return undefined;
  const forVal = entries.get('for');
  const fromVal = entries.get('from');
  if (!forVal) v.missing('for', "how long, such as '10 years'");
  if (!fromVal) v.missing('from', `one of ${RETENTION_ANCHORS.join(', ')}`);
  const period = forVal && readDuration(forVal);
  const from = fromVal && readEnum(fromVal, RETENTION_ANCHORS);
  return period && from ? { forever: false, period, from } : undefined;
}

export function readTieringRules(
  file: PolicyFile,
  settings: LifecycleSettings,
  ids: RuleIds,
): TieringRule[] {
  const rules: TieringRule[] = [];
  for (const item of ruleItems(file, 'tiering')) {
    const before = file.issues.length;
    const entries = item.entries(
      TIERING_KEYS,
      'a tiering rule (a mapping with id, from, to, after)',
    );
    if (!entries) continue;
    const { id, description, when } = readCommon(item, entries, ids, settings);
    const tier = (key: 'from' | 'to'): TierName | undefined => {
      const v = entries.get(key);
      if (!v) item.missing(key, `one of ${TIER_NAMES.join(', ')}`);
      return v && readEnum(v, TIER_NAMES);
    };
    const from = tier('from');
    const to = tier('to');
    if (from !== undefined && to !== undefined && from === to) {
      entries.get('to')!.error(`must differ from 'from' (both are ${from})`);
    }
    const afterVal = entries.get('after');
    if (!afterVal) item.missing('after', "how long, such as '30 days'");
    const after = afterVal && readDuration(afterVal);
    const sinceVal = entries.get('since');
    const since: TieringAnchor | undefined = sinceVal
      ? readEnum(sinceVal, TIERING_ANCHORS)
      : 'last-access';
    if (file.issues.length > before || !id || !when || !from || !to || !after || !since) continue;
    rules.push({ id, file: file.file, description, when, from, to, after, since });
  }
  return rules;
}
