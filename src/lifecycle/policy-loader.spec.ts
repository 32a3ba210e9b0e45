import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatIssue,
  loadPolicies,
  PolicyValidationError,
  validatePolicies,
} from './policy-loader.js';
import { type Condition } from './policy-model.js';
import { parseSize } from './policy-schema.js';

const SHIPPED = fileURLToPath(new URL('../../policies', import.meta.url));

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A policies directory holding these files (relative path → content). */
function policies(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-policies-'));
  tempDirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** The formatted issues of a policy set. */
function problems(files: Record<string, string>): string[] {
  const { policies: set, errors } = validatePolicies(policies(files));
  expect(set).toBeNull();
  return errors.map(formatIssue);
}

const years = (n: number) => ({ years: n, months: 0, days: 0, text: `${n} years` });

describe('the shipped default policy set', () => {
  it('loads without issues', () => {
    expect(validatePolicies(SHIPPED).errors).toEqual([]);
  });

  it('has the default settings and reads the lifecycle files only', () => {
    const set = loadPolicies(SHIPPED);
    expect(set.dir).toBe(SHIPPED);
    expect(set.settings).toEqual({ ageOfMajority: 21, purgeGraceDays: 30, recallOnAccess: true });
    expect(set.files).toEqual(['lifecycle.yaml', 'retention/default.yaml', 'tiering/default.yaml']);
    expect(set.version).toMatch(/^[0-9a-f]{64}$/);
  });

  it('has the four retention rules, majority resolved to 21', () => {
    const { retention } = loadPolicies(SHIPPED);
    const mg: Condition = { kind: 'in', fact: 'modality', values: ['MG'] };
    const laterMg: Condition = { kind: 'laterStudy', where: mg };
    const file = 'retention/default.yaml';
    expect(retention.map((r) => r.id)).toEqual([
      'adult',
      'minor',
      'mqsa-later-mammogram',
      'mqsa-last-mammogram',
    ]);
    expect(retention).toEqual([
      {
        id: 'adult',
        file,
        description: expect.any(String),
        when: { kind: 'age', fact: 'ageAtStudy', atLeast: 21 },
        keep: { forever: false, period: years(10), from: 'last-study' },
        atLeast: null,
        atMost: null,
      },
      {
        id: 'minor',
        file,
        description: expect.any(String),
        when: { kind: 'age', fact: 'ageAtStudy', under: 21 },
        keep: { forever: false, period: years(2), from: 'age-of-majority' },
        atLeast: null,
        atMost: null,
      },
      {
        id: 'mqsa-later-mammogram',
        file,
        description: expect.stringContaining('21 CFR 900.12(c)(4)'),
        when: { kind: 'all', of: [mg, laterMg] },
        keep: { forever: false, period: years(5), from: 'study-date' },
        atLeast: null,
        atMost: null,
      },
      {
        id: 'mqsa-last-mammogram',
        file,
        description: expect.stringContaining('21 CFR 900.12(c)(4)'),
        when: { kind: 'all', of: [mg, { kind: 'not', of: laterMg }] },
        keep: { forever: false, period: years(10), from: 'study-date' },
        atLeast: null,
        atMost: null,
      },
    ]);
  });

  it('has the two tiering rules', () => {
    const { tiering } = loadPolicies(SHIPPED);
    const file = 'tiering/default.yaml';
    expect(tiering).toEqual([
      {
        id: 'hot-to-warm',
        file,
        description: expect.any(String),
        when: { kind: 'always' },
        from: 'hot',
        to: 'warm',
        after: { years: 0, months: 0, days: 30, text: '30 days' },
        since: 'last-access',
      },
      {
        id: 'warm-to-cold',
        file,
        description: expect.any(String),
        when: { kind: 'always' },
        from: 'warm',
        to: 'cold',
        after: { years: 1, months: 0, days: 0, text: '1 year' },
        since: 'last-access',
      },
    ]);
  });

  it('is versioned by the names and contents of its files', () => {
    const hash = createHash('sha256');
    for (const path of ['lifecycle.yaml', 'retention/default.yaml', 'tiering/default.yaml']) {
      const bytes = readFileSync(join(SHIPPED, path));
      hash.update(`${path}\n${bytes.length}\n`);
      hash.update(bytes);
    }
    expect(loadPolicies(SHIPPED).version).toBe(hash.digest('hex'));
  });
});

describe('reading a policies directory', () => {
  const emptyHash = createHash('sha256').digest('hex');

  it('a missing directory is an empty set with the default settings', () => {
    const set = loadPolicies(join(tmpdir(), 'strata-no-such-policies-dir'));
    expect(set).toMatchObject({
      settings: { ageOfMajority: 21, purgeGraceDays: 30, recallOnAccess: false },
      retention: [],
      tiering: [],
      files: [],
      version: emptyHash,
    });
  });

  it('empty folders, empty files and an empty rules list are no rules', () => {
    const dir = policies({
      'lifecycle.yaml': '# all defaults\n',
      'retention/a.yaml': '',
      'retention/b.yaml': 'rules:\n',
      'tiering/c.yaml': 'rules: []\n',
    });
    mkdirSync(join(dir, 'tiering', 'empty'), { recursive: true });
    rmSync(join(dir, 'tiering', 'empty'), { recursive: true });
    const set = loadPolicies(dir);
    expect(set.retention).toEqual([]);
    expect(set.tiering).toEqual([]);
    expect(set.settings).toEqual({ ageOfMajority: 21, purgeGraceDays: 30, recallOnAccess: false });
    expect(set.files).toEqual([
      'lifecycle.yaml',
      'retention/a.yaml',
      'retention/b.yaml',
      'tiering/c.yaml',
    ]);
  });

  it('reads .yaml and .yml files in name order; ignores duplicates.yaml, Markdown, hidden files', () => {
    const rule = (id: string) => `rules:\n  - id: ${id}\n    keep: forever\n`;
    const set = loadPolicies(
      policies({
        'retention/b.yml': rule('b'),
        'retention/a.yaml': rule('a'),
        'retention/c.yaml': rule('c'),
        'retention/README.md': '# notes',
        'retention/.gitkeep': '',
        'tiering/.default.yaml.swp': 'junk',
        'duplicates.yaml': 'default: reject\n',
        'README.md': '# Policies',
        'NOTES.md': 'notes',
        '.hidden': '',
      }),
    );
    expect(set.retention.map((r) => [r.id, r.file])).toEqual([
      ['a', 'retention/a.yaml'],
      ['b', 'retention/b.yml'],
      ['c', 'retention/c.yaml'],
    ]);
    expect(set.files).toEqual(['retention/a.yaml', 'retention/b.yml', 'retention/c.yaml']);
  });

  it('reads the settings, and majority follows ageOfMajority', () => {
    const set = loadPolicies(
      policies({
        'lifecycle.yaml': 'ageOfMajority: 18\npurgeGraceDays: 0\nrecallOnAccess: false\n',
        'retention/a.yaml':
          'rules:\n  - id: minor\n    when: { ageNow: { under: majority, atLeast: 2 } }\n    keep: forever\n',
      }),
    );
    expect(set.settings).toEqual({ ageOfMajority: 18, purgeGraceDays: 0, recallOnAccess: false });
    expect(set.retention[0]!.when).toEqual({ kind: 'age', fact: 'ageNow', under: 18, atLeast: 2 });
  });

  it('a change of content or of file name changes the version', () => {
    const rule = 'rules:\n  - id: a\n    keep: forever\n';
    const v1 = loadPolicies(policies({ 'retention/a.yaml': rule })).version;
    const v2 = loadPolicies(policies({ 'retention/a.yaml': rule })).version;
    const v3 = loadPolicies(policies({ 'retention/b.yaml': rule })).version;
    const v4 = loadPolicies(policies({ 'retention/a.yaml': `${rule}\n` })).version;
    expect(v1).toBe(v2);
    expect(new Set([v1, v3, v4]).size).toBe(3);
  });

  it('reads a complete retention rule', () => {
    const set = loadPolicies(
      policies({
        'retention/a.yaml': [
          'rules:',
          '  - id: seven-years',
          '    description: |',
          '      Seven years',
          '      from receipt.',
          '    keep: { for: 7 years, from: receive-date }',
          '    atLeast: 1 year 6 months',
          '    atMost: 30 years',
          '  - id: forever-2',
          '    keep: forever',
          '',
        ].join('\n'),
      }),
    );
    expect(set.retention).toEqual([
      {
        id: 'seven-years',
        file: 'retention/a.yaml',
        description: 'Seven years\nfrom receipt.\n',
        when: { kind: 'always' },
        keep: { forever: false, period: years(7), from: 'receive-date' },
        atLeast: { years: 1, months: 6, days: 0, text: '1 year 6 months' },
        atMost: years(30),
      },
      {
        id: 'forever-2',
        file: 'retention/a.yaml',
        description: null,
        when: { kind: 'always' },
        keep: { forever: true },
        atLeast: null,
        atMost: null,
      },
    ]);
  });

  it('since defaults to last-access', () => {
    const set = loadPolicies(
      policies({
        'tiering/a.yaml':
          'rules:\n  - { id: a, from: cold, to: hot, after: 0 days }\n  - { id: b, from: hot, to: cold, after: 2 weeks, since: receipt }\n',
      }),
    );
    expect(set.tiering.map((r) => [r.id, r.since, r.after.days])).toEqual([
      ['a', 'last-access', 0],
      ['b', 'receipt', 14],
    ]);
  });
});

describe('conditions', () => {
  /** The parsed `when` of a retention rule whose `when` is the given YAML (indented 6). */
  function when(yaml: string): Condition {
    const text = `rules:\n  - id: r\n    keep: forever\n    when:\n${yaml
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n`;
    return loadPolicies(policies({ 'retention/a.yaml': text })).retention[0]!.when;
  }

  it('set facts: a value or a list', () => {
    expect(when('modality: MG')).toEqual({ kind: 'in', fact: 'modality', values: ['MG'] });
    expect(when('bodyPart: [CHEST, ABDOMEN]')).toEqual({
      kind: 'in',
      fact: 'bodyPart',
      values: ['CHEST', 'ABDOMEN'],
    });
    for (const fact of ['sopClass', 'sex', 'source', 'callingAet', 'adapter', 'institution']) {
      expect(when(`${fact}: ['x']`)).toEqual({ kind: 'in', fact, values: ['x'] });
    }
    expect(when("callingAet: '1234'")).toEqual({
      kind: 'in',
      fact: 'callingAet',
      values: ['1234'],
    });
  });

  it('several keys are combined with all', () => {
    expect(when('modality: MG\nsex: F')).toEqual({
      kind: 'all',
      of: [
        { kind: 'in', fact: 'modality', values: ['MG'] },
        { kind: 'in', fact: 'sex', values: ['F'] },
      ],
    });
  });

  it('all, any, not, laterStudy nest', () => {
    expect(
      when(
        [
          'any:',
          '  - modality: MG',
          '  - all:',
          '      - { modality: [CT, MR] }',
          '      - not: { bodyPart: HEAD }',
          'laterStudy: { source: outside }',
        ].join('\n'),
      ),
    ).toEqual({
      kind: 'all',
      of: [
        {
          kind: 'any',
          of: [
            { kind: 'in', fact: 'modality', values: ['MG'] },
            {
              kind: 'all',
              of: [
                { kind: 'in', fact: 'modality', values: ['CT', 'MR'] },
                { kind: 'not', of: { kind: 'in', fact: 'bodyPart', values: ['HEAD'] } },
              ],
            },
          ],
        },
        { kind: 'laterStudy', where: { kind: 'in', fact: 'source', values: ['outside'] } },
      ],
    });
  });

  it('studyDescription', () => {
    expect(when("studyDescription: '^mammo.*screen'")).toEqual({
      kind: 'matches',
      fact: 'studyDescription',
      pattern: '^mammo.*screen',
    });
  });

  it('ages', () => {
    expect(when('ageAtStudy: { atLeast: 0, under: 150 }')).toEqual({
      kind: 'age',
      fact: 'ageAtStudy',
      atLeast: 0,
      under: 150,
    });
    expect(when('ageNow: { atLeast: majority }')).toEqual({
      kind: 'age',
      fact: 'ageNow',
      atLeast: 21,
    });
  });

  it('dates', () => {
    expect(
      when('studyDate: { after: 2000-01-01, before: 2024-02-29, olderThan: 5 years }'),
    ).toEqual({
      kind: 'date',
      fact: 'studyDate',
      after: '2000-01-01',
      before: '2024-02-29',
      olderThan: years(5),
    });
    expect(when("receiveDate: { before: '2015-01-01' }")).toEqual({
      kind: 'date',
      fact: 'receiveDate',
      before: '2015-01-01',
    });
    expect(when('lastAccess: { within: 90 days }')).toEqual({
      kind: 'date',
      fact: 'lastAccess',
      within: { years: 0, months: 0, days: 90, text: '90 days' },
    });
  });

  it('sizes', () => {
    expect(when('size: { over: 500 MB, under: 2 GiB }')).toEqual({
      kind: 'size',
      over: 500_000_000,
      under: 2 * 1024 ** 3,
    });
    expect(when('size: { under: 1048576 }')).toEqual({ kind: 'size', under: 1048576 });
  });
});

describe('parseSize', () => {
  it.each([
    [0, 0],
    [1500000, 1500000],
    ['0', 0],
    ['1024', 1024],
    ['12 B', 12],
    ['10 kB', 10_000],
    ['500 MB', 500_000_000],
    ['500MB', 500_000_000],
    ['2 GB', 2_000_000_000],
    ['3 TB', 3_000_000_000_000],
    ['1 KiB', 1024],
    ['2 MiB', 2 * 1024 ** 2],
    ['2 GiB', 2 * 1024 ** 3],
    ['1 TiB', 1024 ** 4],
    ['1.5 GB', 1_500_000_000],
    [' 10 kB ', 10_000],
  ])('%j → %d bytes', (value, bytes) => {
    expect(parseSize(value)).toBe(bytes);
  });

  const expected = "expected a size such as '500 MB', '2 GiB' or a number of bytes";
  it.each([
    [-1, `${expected}, got -1 (a number of bytes must be a whole number ≥ 0)`],
    [1.5, `${expected}, got 1.5 (a number of bytes must be a whole number ≥ 0)`],
    ['', `${expected}, got ''`],
    ['-5 MB', `${expected}, got '-5 MB' (a size cannot be negative)`],
    ['MB', `${expected}, got 'MB'`],
    [
      '5 mb',
      `${expected}, got '5 mb' (unknown unit 'mb'; use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
    ],
    [
      '5 KB',
      `${expected}, got '5 KB' (unknown unit 'KB'; use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
    ],
    ['5 M B', `${expected}, got '5 M B'`],
    ['99999999 TB', `${expected}, got '99999999 TB' (too large)`],
  ])('rejects %j', (value, message) => {
    expect(() => parseSize(value)).toThrow(new Error(message));
  });
});

describe('invalid policy sets: every problem, with its file, line and key', () => {
  it('an unknown key in a rule, with a suggestion when it is close to a known one', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    keep: forever',
          '    atleast: 1 year',
          '    colour: red',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:4: rules[0]: unknown key 'atleast' (did you mean 'atLeast'?)",
      "retention/a.yaml:5: rules[0]: unknown key 'colour' (expected one of: id, description, when, keep, atLeast, atMost)",
    ]);
  });

  it('an unknown key in a condition', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when:',
          '      modalty: MG',
          '      all:',
          '        - { bodyPart: CHEST, ageAtStudy: { over: 18 } }',
          '    keep: forever',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:4: rules[0].when: unknown key 'modalty' (did you mean 'modality'?)",
      "retention/a.yaml:6: rules[0].when.all[0].ageAtStudy: unknown key 'over' (expected one of: under, atLeast)",
    ]);
  });

  it('a bad duration', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    keep: { for: 10 yeers, from: study-date }',
          '    atMost: 10',
          '    atLeast: -1 days',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:3: rules[0].keep.for: expected a duration such as '10 years', got '10 yeers' (unknown unit 'yeers'; use years, months, weeks or days)",
      "retention/a.yaml:4: rules[0].atMost: expected a duration such as '10 years', got '10' (missing unit after 10; use years, months, weeks or days)",
      "retention/a.yaml:5: rules[0].atLeast: expected a duration such as '10 years', got '-1 days' (a duration cannot be negative)",
    ]);
  });

  it('a bad anchor', () => {
    const issues = validatePolicies(
      policies({
        'retention/default.yaml': [
          'rules:',
          '  - id: a',
          '    keep:',
          '      for: 10 years',
          '      from: studydate',
          '',
        ].join('\n'),
      }),
    ).errors;
    expect(issues).toEqual([
      {
        file: 'retention/default.yaml',
        line: 5,
        key: 'rules[0].keep.from',
        message:
          "must be one of study-date, receive-date, last-study, age-of-majority, got 'studydate'",
      },
    ]);
    expect(issues.map(formatIssue)).toEqual([
      "retention/default.yaml:5: rules[0].keep.from: must be one of study-date, receive-date, last-study, age-of-majority, got 'studydate'",
    ]);
  });

  it('a bad regular expression', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when:',
          "      studyDescription: 'MAMMO(('",
          '    keep: forever',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:4: rules[0].when.studyDescription: invalid regular expression 'MAMMO((': unterminated group",
    ]);
  });

  it('bad dates', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when:',
          '      studyDate:',
          '        before: 2023-02-29',
          '        after: 01/02/2020',
          '      receiveDate: { after: 2020-13-01 }',
          '      lastAccess: { after: 2021-01-01, before: 2020-01-01 }',
          '    keep: forever',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:5: rules[0].when.studyDate.before: '2023-02-29' is not a calendar date",
      "retention/a.yaml:6: rules[0].when.studyDate.after: expected a date as YYYY-MM-DD, got '01/02/2020'",
      "retention/a.yaml:7: rules[0].when.receiveDate.after: '2020-13-01' is not a calendar date",
      "retention/a.yaml:8: rules[0].when.lastAccess: never true: 'after' (2021-01-01) must be earlier than 'before' (2020-01-01)",
    ]);
  });

  it('a rule id used twice, across two files and two kinds of rule', () => {
    expect(
      problems({
        'retention/a.yaml': 'rules:\n  - id: archive\n    keep: forever\n',
        'retention/b.yaml': 'rules:\n  - id: other\n    keep: forever\n',
        'tiering/c.yaml': [
          'rules:',
          '  - id: x',
          '    from: hot',
          '    to: warm',
          '    after: 1 day',
          '  - id: archive',
          '    from: hot',
          '    to: cold',
          '    after: 1 day',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "tiering/c.yaml:6: rules[1].id: duplicate rule id 'archive' (also used at retention/a.yaml:2)",
    ]);
  });

  it('missing required keys point at the mapping that lacks them', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when: { modality: CT }',
          '  - id: b',
          '    keep:',
          '      for: 1 year',
          '  - keep: forever',
          '',
        ].join('\n'),
        'tiering/a.yaml': 'rules:\n  - id: t\n    to: cold\n',
      }),
    ).toEqual([
      "retention/a.yaml:2: rules[0]: missing required key 'keep' (forever, or { for: <duration>, from: <anchor> })",
      "retention/a.yaml:5: rules[1].keep: missing required key 'from' (one of study-date, receive-date, last-study, age-of-majority)",
      "retention/a.yaml:7: rules[2]: missing required key 'id' (a name for the rule, such as adult-10-years)",
      "tiering/a.yaml:2: rules[0]: missing required key 'from' (one of hot, warm, cold)",
      "tiering/a.yaml:2: rules[0]: missing required key 'after' (how long, such as '30 days')",
    ]);
  });

  it('a tiering rule whose to is its from, and bad tiers and anchors', () => {
    expect(
      problems({
        'tiering/a.yml': [
          'rules:',
          '  - id: a',
          '    from: warm',
          '    to: warm',
          '    after: 1 day',
          '    since: access',
          '  - { id: b, from: hott, to: Cold, after: 1 day }',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "tiering/a.yml:4: rules[0].to: must differ from 'from' (both are warm)",
      "tiering/a.yml:6: rules[0].since: must be one of last-access, receipt, got 'access'",
      "tiering/a.yml:7: rules[1].from: must be one of hot, warm, cold, got 'hott'",
      "tiering/a.yml:7: rules[1].to: must be one of hot, warm, cold, got 'Cold'",
    ]);
  });

  it('YAML syntax errors report their own line; the other files are still checked', () => {
    expect(
      problems({
        'lifecycle.yaml': 'purgeGraceDays: 1\npurgeGraceDays: 2\n',
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    keep: { for: 10 years, from: study-date',
          '  - id: b',
          '',
        ].join('\n'),
        'retention/b.yaml': 'rules:\n  - id: b\n    keep: for ever\n',
        'tiering/a.yaml': 'rules:\n\t- id: x\n',
        'tiering/b.yaml': 'rules: []\n---\nrules: []\n',
        'tiering/c.yaml': "rules:\n  - id: 'x\n",
      }),
    ).toEqual([
      'lifecycle.yaml:2: the same key appears twice in one mapping',
      'retention/a.yaml:4: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }',
      "retention/b.yaml:3: rules[0].keep: expected 'forever', or '{ for: <duration>, from: <anchor> }', got 'for ever'",
      'tiering/a.yaml:2: YAML syntax error: indent with spaces, not tabs',
      "tiering/b.yaml:2: a policy file holds one YAML document: remove the '---' line",
      "tiering/c.yaml:2: YAML syntax error: Missing closing 'quote",
    ]);
  });

  it('unknown files and folders, so that a typo never silently drops a policy', () => {
    const hint =
      'a policies folder holds lifecycle.yaml, retention/, tiering/, duplicates.yaml, profiles/ and Markdown files';
    expect(
      problems({
        'foo.yaml': '',
        'lifecycle.yml': '',
        'retentoin/a.yaml': 'rules:\n  - id: a\n    keep: forever\n',
        'tiering.yaml': '',
        'retention/notes.txt': '',
        'retention/old/a.yaml': '',
        'retention/README.md': '',
        'duplicates.yaml': 'default: keep-both\n',
        'README.md': '',
        'profiles/ge.yaml': 'not: [a lifecycle file',
        'profile/ge.yaml': '',
      }),
    ).toEqual([
      `foo.yaml: unknown policy file (${hint})`,
      `lifecycle.yml: unknown policy file (did you mean lifecycle.yaml? ${hint})`,
      `profile/: unknown policy file (did you mean profiles/? ${hint})`,
      `retentoin/: unknown policy file (did you mean retention/? ${hint})`,
      `tiering.yaml: unknown policy file (did you mean tiering/? ${hint})`,
      'retention/notes.txt: unknown policy file (retention/ holds only .yaml or .yml files of retention rules)',
      'retention/old/: unknown policy file (retention/ holds only .yaml or .yml files of retention rules)',
    ]);
  });

  it('collects every problem of every file at once', () => {
    const { policies: set, errors } = validatePolicies(
      policies({
        'lifecycle.yaml': 'ageOfMajority: 40\npurgeGraceDays: "30"\nrecallOnAccess: yes\nfoo: 1\n',
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    keep: forever',
          '  - id: b',
          '    keep: { for: 1 yr, from: study-date }',
          '',
        ].join('\n'),
        'retention/b.yaml': 'rules:\n  - id: c\n    keep: { for: 1 year, from: x }\n',
        'tiering/a.yaml': 'rules:\n  - { id: a, from: hot, to: hot, after: 1 day }\n',
      }),
    );
    expect(set).toBeNull();
    expect(errors.map(formatIssue)).toEqual([
      'lifecycle.yaml:1: ageOfMajority: expected a whole number of years from 1 to 30, got 40',
      "lifecycle.yaml:2: purgeGraceDays: expected a whole number of days from 0 to 3650, got '30' (write it without quotes)",
      "lifecycle.yaml:3: recallOnAccess: expected true or false, got 'yes'",
      "lifecycle.yaml:4: unknown key 'foo' (expected one of: ageOfMajority, purgeGraceDays, recallOnAccess)",
      "retention/a.yaml:5: rules[1].keep.for: expected a duration such as '10 years', got '1 yr' (unknown unit 'yr'; use years, months, weeks or days)",
      "retention/b.yaml:3: rules[0].keep.from: must be one of study-date, receive-date, last-study, age-of-majority, got 'x'",
      "tiering/a.yaml:2: rules[0].id: duplicate rule id 'a' (also used at retention/a.yaml:2)",
      "tiering/a.yaml:2: rules[0].to: must differ from 'from' (both are hot)",
    ]);
  });

  it('loadPolicies throws them all in a PolicyValidationError', () => {
    const dir = policies({
      'retention/a.yaml': 'rules:\n  - id: a\n    keep: 10 years\n    atMost: 1 yeer\n',
    });
    let error: unknown;
    try {
      loadPolicies(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyValidationError);
    const { issues, message } = error as PolicyValidationError;
    expect(issues).toHaveLength(2);
    expect(message).toBe(
      [
        "retention/a.yaml:3: rules[0].keep: expected 'forever', or '{ for: <duration>, from: <anchor> }', got '10 years' (write '{ for: 10 years, from: study-date }' and choose the anchor)",
        "retention/a.yaml:4: rules[0].atMost: expected a duration such as '10 years', got '1 yeer' (unknown unit 'yeer'; use years, months, weeks or days)",
      ].join('\n'),
    );
  });

  it('wrong types: a string, a number or a mapping where something else is expected', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: Adult',
          '    description: 12',
          '    when:',
          '      modality: { a: 1 }',
          '      bodyPart: []',
          '      sex: 1',
          '      source: [a, [b]]',
          '      any: { modality: MG }',
          '      all: []',
          '      not: [ { modality: MG } ]',
          '      ageNow: 18',
          '      ageAtStudy: { under: 10, atLeast: 18 }',
          '      size: { over: 2 GB, under: 5 mb }',
          '      studyDescription: [a, b]',
          '      laterStudy: MG',
          '    keep: forever',
          '  - hello',
          '  - id: 2024',
          '    keep: forever',
          '    atLeast: { years: 1 }',
          '',
        ].join('\n'),
        'retention/b.yaml': 'rules: adult\n',
        'tiering/a.yaml': '- id: x\n',
        'lifecycle.yaml': '[ageOfMajority, 18]\n',
      }),
    ).toEqual([
      'lifecycle.yaml:1: expected a mapping of settings (ageOfMajority, purgeGraceDays, recallOnAccess), got a list',
      "retention/a.yaml:2: rules[0].id: expected an id of lower-case letters, digits and hyphens (at most 63, not starting with a hyphen), got 'Adult'",
      "retention/a.yaml:3: rules[0].description: expected text, got 12 (write it in quotes: '12')",
      'retention/a.yaml:5: rules[0].when.modality: expected text or a list of texts, got a mapping',
      'retention/a.yaml:6: rules[0].when.bodyPart: expected at least one value, got an empty list []',
      "retention/a.yaml:7: rules[0].when.sex: expected text or a list of texts, got 1 (write it in quotes: '1')",
      'retention/a.yaml:8: rules[0].when.source[1]: expected text, got a list',
      "retention/a.yaml:9: rules[0].when.any: expected a list of conditions, got a mapping (write each condition as a list item: '- modality: MG')",
      'retention/a.yaml:10: rules[0].when.all: expected a list of at least one condition, got an empty list []',
      "retention/a.yaml:11: rules[0].when.not: expected a condition such as '{ modality: MG }', got a list",
      "retention/a.yaml:12: rules[0].when.ageNow: expected age bounds such as '{ atLeast: majority }', got 18",
      "retention/a.yaml:13: rules[0].when.ageAtStudy: never true: 'under' (10) must be more than 'atLeast' (18)",
      "retention/a.yaml:14: rules[0].when.size.under: expected a size such as '500 MB', '2 GiB' or a number of bytes, got '5 mb' (unknown unit 'mb'; use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)",
      'retention/a.yaml:15: rules[0].when.studyDescription: expected a regular expression (text), got a list',
      "retention/a.yaml:16: rules[0].when.laterStudy: expected a condition such as '{ modality: MG }', got 'MG'",
      "retention/a.yaml:18: rules[1]: expected a retention rule (a mapping with id, when, keep), got 'hello'",
      'retention/a.yaml:19: rules[2].id: expected an id of lower-case letters, digits and hyphens (at most 63, not starting with a hyphen), got 2024',
      "retention/a.yaml:21: rules[2].atLeast: expected a duration such as '10 years', got a mapping",
      "retention/b.yaml:1: rules: expected a list of retention rules, got 'adult'",
      "tiering/a.yaml:1: expected a mapping with a 'rules' list, got a list (start the file with 'rules:')",
    ]);
  });

  it('empty conditions and empty values', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when: {}',
          '    keep: forever',
          '  - id: b',
          '    when:',
          '    keep: forever',
          '  - id: c',
          '    when:',
          '      ageNow: {}',
          '      size: {}',
          '      lastAccess: { olderThan: 1.5 years }',
          "      institution: ''",
          '    keep: { for: 1 year, from: receive-date, extra: 1 }',
          '  - id: d',
          '    keep: forever',
          '    atLeast:',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:3: rules[0].when: a condition needs at least one key (to match every study, leave out 'when')",
      "retention/a.yaml:6: rules[1].when: expected a condition such as '{ modality: MG }', got nothing",
      "retention/a.yaml:10: rules[2].when.ageNow: give 'under', 'atLeast' or both",
      "retention/a.yaml:11: rules[2].when.size: give 'over', 'under' or both",
      "retention/a.yaml:12: rules[2].when.lastAccess.olderThan: expected a duration such as '10 years', got '1.5 years' (use whole numbers, e.g. '1 year 6 months' rather than '1.5 years')",
      "retention/a.yaml:13: rules[2].when.institution: expected text or a list of texts, got ''",
      "retention/a.yaml:14: rules[2].keep: unknown key 'extra' (expected one of: for, from)",
      "retention/a.yaml:17: rules[3].atLeast: expected a duration such as '10 years', got nothing",
    ]);
  });

  it('ages out of range and not a number', () => {
    expect(
      problems({
        'retention/a.yaml': [
          'rules:',
          '  - id: a',
          '    when:',
          '      ageAtStudy: { atLeast: Majority, under: 151 }',
          '      ageNow: { under: -1 }',
          '    keep: forever',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "retention/a.yaml:4: rules[0].when.ageAtStudy.atLeast: expected a whole number of years from 0 to 150 or 'majority', got 'Majority'",
      "retention/a.yaml:4: rules[0].when.ageAtStudy.under: expected a whole number of years from 0 to 150 or 'majority', got 151",
      "retention/a.yaml:5: rules[0].when.ageNow.under: expected a whole number of years from 0 to 150 or 'majority', got -1",
    ]);
  });

  it('a policies path that is a file', () => {
    const dir = policies({ 'x.yaml': '' });
    const file = join(dir, 'x.yaml');
    expect(validatePolicies(file).errors.map(formatIssue)).toEqual([`${file}: not a folder`]);
  });
});
