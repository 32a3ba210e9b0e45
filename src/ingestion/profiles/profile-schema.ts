import { createHash } from 'node:crypto';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { isSupportedCharset, lookupAttribute } from '../../dicom/index.js';
import {
  type AttributeRef,
  type ModificationCode,
  type PrivateRef,
  type ProfileRule,
  type VendorProfile,
  type When,
} from './profile-model.js';

/**
 * The grammar of a vendor profile file (policies/profiles/<name>.yaml): zod checks the shape
 * (unknown keys are errors), then the attributes, patterns and character sets are checked, and
 * every problem is reported with the line of the offending key or value, as the lifecycle policy
 * files are: 'profiles/ge.yaml:12: rules[2].set.attribute: ...'.
 */

/** One problem in a profile file. `file` is relative to the policies folder. */
export interface ProfileIssue {
  file: string;
  line: number | null;
  key: string;
  message: string;
}

export function formatProfileIssue(issue: ProfileIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  return issue.key === ''
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.key}: ${issue.message}`;
}

/** A profile name: what `sources.<id>.profile` may hold (config.schema.ts). */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const ACTIONS = [
  'set',
  'remove',
  'copy',
  'map',
  'regex',
  'patientId',
  'removePrivate',
  'charset',
  'accession',
] as const;
type Action = (typeof ACTIONS)[number];

/** VRs whose values are text a rule can read and write. */
const TEXT_VRS: ReadonlySet<string> = new Set(
  'AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT'.split(' '),
);

/**
 * Attributes no rule may write: the identifiers storage commitment, retrieval and every copy of
 * the instance elsewhere go by, the pixel data, and the attributes the profile machinery itself
 * owns (character set: the `charset` action; Original Attributes Sequence and its contents).
 */
const FORBIDDEN: ReadonlyMap<number, string> = new Map([
  [0x00080016, 'rewriting identifiers breaks storage commitment and retrieval'],
  [0x00080018, 'rewriting identifiers breaks storage commitment and retrieval'],
  [0x0020000d, 'rewriting identifiers breaks storage commitment and retrieval'],
  [0x0020000e, 'rewriting identifiers breaks storage commitment and retrieval'],
  [0x7fe00010, 'pixel data is never rewritten'],
  [0x7fe00008, 'pixel data is never rewritten'],
  [0x7fe00009, 'pixel data is never rewritten'],
  [0x00080005, "use the 'charset' action to repair the Specific Character Set"],
  [0x04000561, 'Original Attributes Sequence is written by the profile machinery itself'],
  [0x04000550, 'Modified Attributes Sequence is written by the profile machinery itself'],
  [0x04000562, 'written by the profile machinery itself'],
  [0x04000563, 'written by the profile machinery itself'],
  [0x04000564, 'written by the profile machinery itself'],
  [0x04000565, 'written by the profile machinery itself'],
]);

const when = z.enum(['always', 'absent', 'empty']);
const code = z.enum(['COERCE', 'CORRECT']);
const text = z.string();
const textOrList = z.union([z.string(), z.array(z.string()).min(1)]);

const ACTION_SCHEMAS: Record<Action, z.ZodType> = {
  set: z.object({ attribute: text, value: textOrList, when: when.optional() }).strict(),
  remove: z.object({ attribute: text }).strict(),
  // `from` is checked by readRule: a standard attribute, or { creator, tag } for a private one.
  copy: z.object({ from: z.unknown(), to: text, when: when.optional() }).strict(),
  map: z
    .object({
      attribute: text,
      values: z.record(z.string(), z.string()),
      ignoreCase: z.boolean().optional(),
    })
    .strict(),
  regex: z
    .object({
      attribute: text,
      pattern: z.string().min(1),
      replacement: text,
      flags: z.string().optional(),
    })
    .strict(),
  patientId: z
    .object({
      prefix: z.string().min(1).optional(),
      issuer: z.string().min(1).optional(),
      issuerWhen: when.optional(),
    })
    .strict(),
  removePrivate: z
    .object({
      creators: z.array(z.string().min(1)).min(1),
      groups: z.array(z.string()).min(1).optional(),
    })
    .strict(),
  charset: z
    .object({
      assume: z.string().min(1).optional(),
      replace: textOrList.optional(),
      with: z.string().min(1).optional(),
    })
    .strict(),
  accession: z
    .object({
      trim: z.boolean().optional(),
      uppercase: z.boolean().optional(),
      stripPrefix: textOrList.optional(),
      stripLeadingZeros: z.boolean().optional(),
      maxLength: z.number().int().min(1).max(16).optional(),
      tooLong: z.enum(['refuse', 'keep-start', 'keep-end']).optional(),
    })
    .strict(),
};

const RULE_KEYS = [...ACTIONS, 'reason', 'code'];
const FILE_KEYS = ['description', 'reason', 'rules'];
const REASON_MAX = 1024;

type Path = (string | number)[];

/** Reads one profile file. Returns the profile, or null and the issues. */
export function readProfile(
  file: string,
  name: string,
  bytes: Buffer,
): { profile: VendorProfile | null; issues: ProfileIssue[] } {
  const source = bytes.toString('utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: true });
  const issues: ProfileIssue[] = [];
  const lineOf = (node: unknown): number | null => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : null;
  };
  const report = (path: Path, message: string, atKey = false) =>
    issues.push({ file, line: lineAt(doc, path, atKey, lineOf), key: pathText(path), message });

  if (!PROFILE_NAME.test(name)) {
    issues.push({
      file,
      line: null,
      key: '',
      message:
        'not a profile name: letters, digits, . _ - (at most 64 characters, starting with a letter or digit)',
    });
  }
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const line = e.linePos?.[0].line ?? null;
      const message =
        e.code === 'DUPLICATE_KEY'
          ? 'the same key appears twice in one mapping'
          : `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
      issues.push({ file, line, key: '', message });
    }
    return { profile: null, issues };
  }
  const root: unknown = doc.toJS() ?? {};
  if (!isPlainObject(root)) {
    report(
      [],
      `expected a mapping with 'rules:' (and optionally 'description:' and 'reason:'), got ${describe(root)}`,
    );
    return { profile: null, issues };
  }
  for (const key of Object.keys(root)) {
    if (!FILE_KEYS.includes(key))
      report([key], `unknown key '${key}'${didYouMean(key, FILE_KEYS)}`, true);
  }
  const description = optionalText(root, 'description', report);
  const defaultReason = optionalText(root, 'reason', report);
  if (defaultReason !== null && defaultReason.length > REASON_MAX) {
    report(['reason'], `at most ${REASON_MAX} characters`);
  }
  const rules: ProfileRule[] = [];
  if (!('rules' in root)) {
    report([], "a profile needs 'rules:', a list of rules (it may be empty)");
  } else if (root.rules !== null && !Array.isArray(root.rules)) {
    report(['rules'], `expected a list of rules, got ${describe(root.rules)}`);
  } else {
    const list = (root.rules ?? []) as unknown[];
    list.forEach((raw, i) => {
      const rule = readRule(raw, i, defaultReason, report, (p) => lineAt(doc, p, false, lineOf));
      if (rule) rules.push(rule);
    });
  }
  if (issues.length > 0) {
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    return { profile: null, issues };
  }
  return {
    profile: {
      name,
      file,
      description,
      rules,
      version: createHash('sha256').update(bytes).digest('hex'),
    },
    issues,
  };
}

type Report = (path: Path, message: string, atKey?: boolean) => void;

function readRule(
  raw: unknown,
  i: number,
  defaultReason: string | null,
  report: Report,
  lineOf: (path: Path) => number | null,
): ProfileRule | null {
  const at: Path = ['rules', i];
  if (!isPlainObject(raw)) {
    report(
      at,
      `expected a rule (a mapping with one of ${ACTIONS.join(', ')}), got ${describe(raw)}`,
    );
    return null;
  }
  let ok = true;
  for (const key of Object.keys(raw)) {
    if (!RULE_KEYS.includes(key)) {
      report([...at, key], `unknown key '${key}'${didYouMean(key, RULE_KEYS)}`, true);
      ok = false;
    }
  }
  const actions = ACTIONS.filter((a) => a in raw);
  if (actions.length === 0) {
    if (ok) report(at, `a rule needs one action: ${ACTIONS.join(', ')}`);
    return null;
  }
  if (actions.length > 1) {
    report(at, `one action per rule, got ${actions.join(' and ')}: write them as separate rules`);
    return null;
  }
  const action = actions[0]!;
  const reason = raw.reason === undefined ? defaultReason : raw.reason;
  if (reason === null || reason === undefined) {
    report(
      at,
      "every rule needs a reason (recorded with the original values): give it 'reason:' or give the profile a default 'reason:'",
    );
    ok = false;
  } else if (typeof reason !== 'string' || reason.trim() === '') {
    report([...at, 'reason'], `expected text, got ${describe(reason)}`);
    ok = false;
  } else if (reason.length > REASON_MAX) {
    report([...at, 'reason'], `at most ${REASON_MAX} characters`);
    ok = false;
  }
  let ruleCode: ModificationCode = action === 'charset' ? 'CORRECT' : 'COERCE';
  if (raw.code !== undefined) {
    const parsed = code.safeParse(raw.code);
    if (!parsed.success) {
      report([...at, 'code'], `must be COERCE or CORRECT, got ${describe(raw.code)}`);
      ok = false;
    } else ruleCode = parsed.data;
  }
  const bodyPath: Path = [...at, action];
  const parsed = ACTION_SCHEMAS[action].safeParse(raw[action]);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      reportZodIssue(issue, bodyPath, raw[action], action, report);
    }
    return null;
  }
  if (!ok) return null;
  const body = parsed.data as Record<string, unknown>;
  const base = {
    index: i + 1,
    line: lineOf(at),
    reason: (reason as string).trim(),
    code: ruleCode,
  };
  const attr = (key: string, target: boolean): AttributeRef | null =>
    readAttribute(body[key] as string, [...bodyPath, key], target, report);
  switch (action) {
    case 'set': {
      const attribute = attr('attribute', true);
      const value = Array.isArray(body.value)
        ? (body.value as string[]).join('\\')
        : (body.value as string);
      return attribute
        ? { ...base, kind: 'set', attribute, value, when: (body.when as When) ?? 'always' }
        : null;
    }
    case 'remove': {
      const attribute = attr('attribute', true);
      return attribute ? { ...base, kind: 'remove', attribute } : null;
    }
    case 'copy': {
      const from =
        typeof body.from === 'string'
          ? attr('from', false)
          : readPrivateRef(body.from, [...bodyPath, 'from'], report);
      const to = attr('to', true);
      if (from && to && 'tag' in from && from.tag === to.tag) {
        report([...bodyPath, 'to'], "must differ from 'from'");
        return null;
      }
      return from && to
        ? { ...base, kind: 'copy', from, to, when: (body.when as When) ?? 'always' }
        : null;
    }
    case 'map': {
      const attribute = attr('attribute', true);
      const entries = Object.entries(body.values as Record<string, string>);
      if (entries.length === 0) {
        report([...bodyPath, 'values'], 'expected at least one value to map');
        return null;
      }
      const ignoreCase = (body.ignoreCase as boolean | undefined) ?? false;
      const values = new Map(
        entries.map(([k, v]) => [ignoreCase ? k.trim().toUpperCase() : k.trim(), v]),
      );
      return attribute ? { ...base, kind: 'map', attribute, values, ignoreCase } : null;
    }
    case 'regex': {
      const attribute = attr('attribute', true);
      const flags = (body.flags as string | undefined) ?? '';
      if (!/^(?!.*(.).*\1)[gimsu]*$/.test(flags)) {
        report(
          [...bodyPath, 'flags'],
          `expected some of the flags g, i, m, s, u (each once), got '${flags}'`,
        );
        return null;
      }
      let pattern: RegExp;
      try {
        pattern = new RegExp(body.pattern as string, flags);
      } catch (error) {
        report(
          [...bodyPath, 'pattern'],
          `not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`,
        );
        return null;
      }
      return attribute
        ? { ...base, kind: 'regex', attribute, pattern, replacement: body.replacement as string }
        : null;
    }
    case 'patientId': {
      if (body.prefix === undefined && body.issuer === undefined) {
        report(bodyPath, "give a 'prefix', an 'issuer', or both");
        return null;
      }
      return {
        ...base,
        kind: 'patientId',
        prefix: (body.prefix as string | undefined) ?? null,
        issuer: (body.issuer as string | undefined) ?? null,
        issuerWhen: (body.issuerWhen as When | undefined) ?? 'empty',
      };
    }
    case 'removePrivate': {
      const creators = (body.creators as string[]).map((c) => c.trim());
      const badIndex = creators.findIndex((c) => c === '' || c.length > 64 || c.includes('\\'));
      if (badIndex >= 0) {
        report(
          [...bodyPath, 'creators', badIndex],
          'a private creator is 1 to 64 characters, no backslash',
        );
        return null;
      }
      let groups: number[] | null = null;
      if (body.groups !== undefined) {
        groups = [];
        for (const [k, g] of (body.groups as string[]).entries()) {
          const n = /^[0-9A-Fa-f]{4}$/.test(g) ? parseInt(g, 16) : NaN;
          if (!(n % 2 === 1 && n > 0x0008 && n < 0xffff)) {
            report(
              [...bodyPath, 'groups', k],
              `expected an odd (private) group as 4 hex digits such as '0009', got '${g}'`,
            );
            return null;
          }
          groups.push(n);
        }
      }
      return { ...base, kind: 'removePrivate', creators, groups };
    }
    case 'charset': {
      const assume = (body.assume as string | undefined) ?? null;
      const replace =
        body.replace === undefined
          ? []
          : ([] as string[]).concat(body.replace as string | string[]);
      const withValue = (body.with as string | undefined) ?? null;
      let good = true;
      if (assume === null && replace.length === 0) {
        report(bodyPath, "give 'assume' (when none is declared) or 'replace' and 'with'");
        return null;
      }
      if (replace.length > 0 !== (withValue !== null)) {
        report(bodyPath, "'replace' and 'with' go together");
        return null;
      }
      for (const [key, value] of [
        ['assume', assume],
        ['with', withValue],
      ] as const) {
        if (value !== null && !isSupportedCharset(value)) {
          report(
            [...bodyPath, key],
            `'${value}' is not a Specific Character Set Strata knows (e.g. 'ISO_IR 100', 'ISO_IR 192', '\\ISO 2022 IR 87')`,
          );
          good = false;
        }
      }
      return good
        ? {
            ...base,
            kind: 'charset',
            assume,
            replace: replace.map((r) => r.trim()),
            with: withValue,
          }
        : null;
    }
    case 'accession': {
      const strip =
        body.stripPrefix === undefined
          ? []
          : ([] as string[]).concat(body.stripPrefix as string | string[]);
      if (strip.some((s) => s === '')) {
        report([...bodyPath, 'stripPrefix'], 'a prefix to strip cannot be empty');
        return null;
      }
      return {
        ...base,
        kind: 'accession',
        trim: (body.trim as boolean | undefined) ?? true,
        uppercase: (body.uppercase as boolean | undefined) ?? false,
        stripPrefixes: strip,
        stripLeadingZeros: (body.stripLeadingZeros as boolean | undefined) ?? false,
        maxLength: (body.maxLength as number | undefined) ?? 16,
        tooLong: (body.tooLong as 'refuse' | 'keep-start' | 'keep-end' | undefined) ?? 'refuse',
      };
    }
  }
}

/** A private element to read: `{ creator: GEIIS, tag: '0905xx30' }`. */
function readPrivateRef(raw: unknown, path: Path, report: Report): PrivateRef | null {
  const example =
    "a standard attribute (PatientID, 00100020) or { creator: 'GEIIS', tag: '0905xx30' }";
  if (raw === undefined) {
    report(path, "missing: copy needs 'from'");
    return null;
  }
  if (!isPlainObject(raw)) {
    report(path, `expected ${example}, got ${describe(raw)}${quoteHint(raw)}`);
    return null;
  }
  let ok = true;
  for (const key of Object.keys(raw)) {
    if (key !== 'creator' && key !== 'tag') {
      report(
        [...path, key],
        `unknown key '${key}'${didYouMean(key, ['creator', 'tag'])}; a private element is { creator, tag }`,
        true,
      );
      ok = false;
    }
  }
  const creator = raw.creator;
  if (
    typeof creator !== 'string' ||
    creator.trim() === '' ||
    creator.length > 64 ||
    creator.includes('\\')
  ) {
    report(
      [...path, 'creator'],
      `expected the private creator (1 to 64 characters), got ${describe(creator)}`,
    );
    ok = false;
  }
  const m =
    typeof raw.tag === 'string'
      ? /^\(?([0-9A-Fa-f]{4}),?xx([0-9A-Fa-f]{2})\)?$/i.exec(raw.tag.trim())
      : null;
  const group = m ? parseInt(m[1]!, 16) : NaN;
  if (!m || !(group % 2 === 1 && group > 0x0008 && group < 0xffff)) {
    report(
      [...path, 'tag'],
      `expected a private element as GGGGxxEE with an odd group, e.g. '0905xx30' (xx: the creator's block), got ${describe(raw.tag)}`,
    );
    ok = false;
  }
  if (!ok) return null;
  const offset = parseInt(m![2]!, 16);
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, '0');
  return {
    creator: (creator as string).trim(),
    group,
    offset,
    label: `(${hex(group, 4)},xx${hex(offset, 2)}) of '${(creator as string).trim()}'`,
  };
}

/** Checks an attribute named by a rule; `target` when the rule writes it. */
function readAttribute(
  name: string,
  path: Path,
  target: boolean,
  report: Report,
): AttributeRef | null {
  const info = lookupAttribute(name);
  if (!info) {
    report(
      path,
      `unknown attribute '${name}': give a keyword of the DICOM dictionary (PatientID) or a tag (00100020)`,
    );
    return null;
  }
  const group = info.tag >>> 16;
  const shown = `${info.keyword ?? 'the attribute'} (${info.key.slice(0, 4)},${info.key.slice(4)})`;
  const refuse = (why: string) => {
    report(path, `${shown} ${why}`);
    return null;
  };
  if (group % 2 === 1) {
    return refuse(
      target
        ? "is private: rules do not rewrite private attributes (use 'removePrivate' to drop a block)"
        : 'is private: rules read standard attributes only',
    );
  }
  if (group === 0x0002) return refuse('is file meta information, not part of the data set');
  if (group === 0xfffe || (info.tag & 0xffff) === 0)
    return refuse('is not an attribute a rule can use');
  const forbidden = FORBIDDEN.get(info.tag);
  if (target && forbidden) return refuse(`cannot be rewritten: ${forbidden}`);
  if (info.keyword === null || info.vr === 'UN') {
    return refuse('is not in the DICOM dictionary, so its VR is unknown');
  }
  if (!TEXT_VRS.has(info.vr)) {
    return refuse(`has VR ${info.vr}: rules ${target ? 'write' : 'read'} text attributes only`);
  }
  return { tag: info.tag, key: info.key, keyword: info.keyword, vr: info.vr };
}

function optionalText(root: Record<string, unknown>, key: string, report: Report): string | null {
  const v = root[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    report([key], `expected text, got ${describe(v)}${quoteHint(v)}`);
    return null;
  }
  return v.trim() === '' ? null : v.trim();
}

function reportZodIssue(
  issue: z.core.$ZodIssue,
  base: Path,
  body: unknown,
  action: Action,
  report: Report,
): void {
  const path: Path = [...base, ...(issue.path as Path)];
  const value = valueAt(body, issue.path as Path);
  const keysOf = (schema: z.ZodType): string[] =>
    Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? {});
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const known = keysOf(ACTION_SCHEMAS[action]);
        report(
          [...path, key],
          `unknown key '${key}'${didYouMean(key, known)}; ${action} takes ${known.join(', ')}`,
          true,
        );
      }
      return;
    case 'invalid_type':
      if (value === undefined) {
        report(path, `missing: ${action} needs '${String(issue.path.at(-1))}'`);
      } else if (issue.path.length === 0) {
        report(
          path,
          `expected a mapping of ${keysOf(ACTION_SCHEMAS[action]).join(', ')}, got ${describe(value)}`,
        );
      } else {
        report(
          path,
          `expected ${friendlyType(issue.expected)}, got ${describe(value)}${quoteHint(value)}`,
        );
      }
      return;
    case 'invalid_union':
      report(path, `expected text or a list of text, got ${describe(value)}${quoteHint(value)}`);
      return;
    case 'invalid_value':
      report(path, `must be one of ${issue.values.map(String).join(', ')}, got ${describe(value)}`);
      return;
    case 'too_small':
      report(
        path,
        Array.isArray(value)
          ? 'expected at least one entry'
          : typeof value === 'string'
            ? 'cannot be empty'
            : `must be at least ${String(issue.minimum)}`,
      );
      return;
    case 'too_big':
      report(path, `must be at most ${String(issue.maximum)}`);
      return;
    default:
      report(path, issue.message);
  }
}

function friendlyType(expected: string): string {
  switch (expected) {
    case 'string':
      return 'text';
    case 'boolean':
      return 'true or false';
    case 'number':
    case 'int':
      return 'a whole number';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping';
    default:
      return expected;
  }
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list []' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  return String(v);
}

function quoteHint(v: unknown): string {
  return typeof v === 'number' || typeof v === 'boolean'
    ? ` (write it in quotes: '${String(v)}'; YAML reads 00100020 as a number)`
    : '';
}

function pathText(path: Path): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? k : `.${k}`;
  return out;
}

/** The line of the value at `path` (or of its key, with `atKey`, or when the value is empty). */
function lineAt(
  doc: Document,
  path: Path,
  atKey: boolean,
  lineOf: (node: unknown) => number | null,
): number | null {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const key = sub.at(-1);
    const parent = sub.length === 0 ? null : doc.getIn(sub.slice(0, -1), true);
    if (typeof key === 'string' && isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      if (pair) {
        const valueLine = lineOf(pair.value);
        if (!atKey && valueLine !== null && n === path.length) return valueLine;
        const keyLine = lineOf(pair.key);
        if (keyLine !== null) return keyLine;
      }
      continue;
    }
    const node = sub.length === 0 ? doc.contents : doc.getIn(sub, true);
    const line = lineOf(node);
    if (line !== null) return line;
  }
  return null;
}

export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length]![b.length]!;
}

function didYouMean(key: string, known: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return best !== null && bestDistance <= 2 ? ` (did you mean '${best}'?)` : '';
}
