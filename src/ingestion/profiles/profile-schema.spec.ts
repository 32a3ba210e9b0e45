import { describe, expect, it } from 'vitest';
import { formatProfileIssue, readProfile } from './profile-schema.js';

function problems(yaml: string, name = 'site'): string[] {
  const { profile, issues } = readProfile(`profiles/${name}.yaml`, name, Buffer.from(yaml));
  expect(profile).toBeNull();
  return issues.map(formatProfileIssue);
}

describe('vendor profile files', () => {
  it('reads every action, with defaults, reasons and codes', () => {
    const { profile, issues } = readProfile(
      'profiles/site.yaml',
      'site',
      Buffer.from(`description: a test profile
reason: default reason
rules:
  - set: { attribute: InstitutionName, value: Hospital, when: empty }
  - remove: { attribute: '00101000' }
    reason: own reason
  - copy: { from: '(0010,1000)', to: PatientID }
  - map: { attribute: Modality, values: { pet: PT }, ignoreCase: true }
  - regex: { attribute: AccessionNumber, pattern: '^RIS(\\d+)$', replacement: '$1', flags: i }
  - patientId: { prefix: 'A-', issuer: SITE_A }
  - removePrivate: { creators: [GEMS_IDEN_01] }
  - charset: { replace: [ISO_IR 6, ISO_IR 192], with: ISO_IR 100 }
  - accession: { uppercase: true, stripPrefix: ACC, stripLeadingZeros: true, maxLength: 12 }
    code: CORRECT
`),
    );
    expect(issues).toEqual([]);
    expect(profile!.name).toBe('site');
    expect(profile!.description).toBe('a test profile');
    expect(profile!.version).toMatch(/^[0-9a-f]{64}$/);
    const rules = profile!.rules;
    expect(rules.map((r) => r.kind)).toEqual([
      'set',
      'remove',
      'copy',
      'map',
      'regex',
      'patientId',
      'removePrivate',
      'charset',
      'accession',
    ]);
    expect(rules[0]).toMatchObject({
      index: 1,
      line: 4,
      reason: 'default reason',
      code: 'COERCE',
      attribute: { tag: 0x00080080, keyword: 'InstitutionName', vr: 'LO' },
      when: 'empty',
    });
    expect(rules[1]).toMatchObject({
      reason: 'own reason',
      attribute: { keyword: 'OtherPatientIDs' },
    });
    expect(rules[2]).toMatchObject({
      from: { keyword: 'OtherPatientIDs' },
      to: { keyword: 'PatientID' },
    });
    expect(rules[5]).toMatchObject({ prefix: 'A-', issuer: 'SITE_A', issuerWhen: 'empty' });
    expect(rules[7]).toMatchObject({ code: 'CORRECT', replace: ['ISO_IR 6', 'ISO_IR 192'] });
    expect(rules[8]).toMatchObject({
      code: 'CORRECT',
      trim: true,
      maxLength: 12,
      tooLong: 'refuse',
      stripPrefixes: ['ACC'],
    });
  });

  it('an empty rule list is a valid profile that changes nothing', () => {
    const { profile, issues } = readProfile('profiles/g.yaml', 'g', Buffer.from('rules: []\n'));
    expect(issues).toEqual([]);
    expect(profile!.rules).toEqual([]);
  });

  it('unknown keys are errors, with their line and a suggestion', () => {
    expect(
      problems(`reason: r
rulez: []
rules:
  - set: { attribute: PatientID, value: x, wen: empty }
  - set: { attribute: PatientID, value: x }
    reasn: typo
`),
    ).toEqual([
      "profiles/site.yaml:2: rulez: unknown key 'rulez' (did you mean 'rules'?)",
      "profiles/site.yaml:4: rules[0].set.wen: unknown key 'wen' (did you mean 'when'?); set takes attribute, value, when",
      "profiles/site.yaml:6: rules[1].reasn: unknown key 'reasn' (did you mean 'reason'?)",
    ]);
  });

  it('refuses rules that rewrite identifiers, pixel data, the meta group or private attributes', () => {
    expect(
      problems(`reason: r
rules:
  - set: { attribute: SOPInstanceUID, value: '1.2.3' }
  - regex: { attribute: '0020000D', pattern: a, replacement: b }
  - copy: { from: StudyID, to: SeriesInstanceUID }
  - remove: { attribute: PixelData }
  - set: { attribute: TransferSyntaxUID, value: '1.2.840.10008.1.2' }
  - map: { attribute: SOPClassUID, values: { a: b } }
  - set: { attribute: '00091001', value: x }
  - set: { attribute: SpecificCharacterSet, value: ISO_IR 100 }
  - set: { attribute: Rows, value: '12' }
`),
    ).toEqual([
      'profiles/site.yaml:3: rules[0].set.attribute: SOPInstanceUID (0008,0018) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
      'profiles/site.yaml:4: rules[1].regex.attribute: StudyInstanceUID (0020,000D) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
      'profiles/site.yaml:5: rules[2].copy.to: SeriesInstanceUID (0020,000E) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
      'profiles/site.yaml:6: rules[3].remove.attribute: PixelData (7FE0,0010) cannot be rewritten: pixel data is never rewritten',
      'profiles/site.yaml:7: rules[4].set.attribute: TransferSyntaxUID (0002,0010) is file meta information, not part of the data set',
      'profiles/site.yaml:8: rules[5].map.attribute: SOPClassUID (0008,0016) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
      "profiles/site.yaml:9: rules[6].set.attribute: the attribute (0009,1001) is private: rules do not rewrite private attributes (use 'removePrivate' to drop a block)",
      "profiles/site.yaml:10: rules[7].set.attribute: SpecificCharacterSet (0008,0005) cannot be rewritten: use the 'charset' action to repair the Specific Character Set",
      'profiles/site.yaml:11: rules[8].set.attribute: Rows (0028,0010) has VR US: rules write text attributes only',
    ]);
  });

  it('a bad regular expression, bad flags, an unknown keyword, an unquoted tag', () => {
    expect(
      problems(`reason: r
rules:
  - regex: { attribute: PatientID, pattern: '([a-z', replacement: x }
  - regex: { attribute: PatientID, pattern: a, replacement: x, flags: gg }
  - set: { attribute: PatientNmae, value: x }
  - set: { attribute: 00100020, value: x }
`),
    ).toEqual([
      'profiles/site.yaml:3: rules[0].regex.pattern: not a valid regular expression: /([a-z/: Unterminated character class',
      "profiles/site.yaml:4: rules[1].regex.flags: expected some of the flags g, i, m, s, u (each once), got 'gg'",
      "profiles/site.yaml:5: rules[2].set.attribute: unknown attribute 'PatientNmae': give a keyword of the DICOM dictionary (PatientID) or a tag (00100020)",
      "profiles/site.yaml:6: rules[3].set.attribute: expected text, got 100020 (write it in quotes: '100020'; YAML reads 00100020 as a number)",
    ]);
  });

  it('private elements to copy from, private groups to remove', () => {
    const { profile, issues } = readProfile(
      'profiles/site.yaml',
      'site',
      Buffer.from(`reason: r
rules:
  - copy: { from: { creator: GEIIS, tag: '(0905,xx30)' }, to: IssuerOfPatientID }
  - removePrivate: { creators: [GEIIS], groups: ['0009', '7fd1'] }
`),
    );
    expect(issues).toEqual([]);
    expect(profile!.rules[0]).toMatchObject({
      from: { creator: 'GEIIS', group: 0x0905, offset: 0x30, label: "(0905,xx30) of 'GEIIS'" },
    });
    expect(profile!.rules[1]).toMatchObject({ groups: [0x0009, 0x7fd1] });
    expect(
      problems(`reason: r
rules:
  - copy: { from: { creator: GEIIS, tag: '0010xx30' }, to: IssuerOfPatientID }
  - copy: { from: { creatr: GEIIS, tag: '0905xx30' }, to: IssuerOfPatientID }
  - copy: { from: 42, to: IssuerOfPatientID }
  - removePrivate: { creators: [GEIIS], groups: ['0010'] }
`),
    ).toEqual([
      "profiles/site.yaml:3: rules[0].copy.from.tag: expected a private element as GGGGxxEE with an odd group, e.g. '0905xx30' (xx: the creator's block), got '0010xx30'",
      "profiles/site.yaml:4: rules[1].copy.from.creatr: unknown key 'creatr' (did you mean 'creator'?); a private element is { creator, tag }",
      'profiles/site.yaml:4: rules[1].copy.from.creator: expected the private creator (1 to 64 characters), got nothing',
      "profiles/site.yaml:5: rules[2].copy.from: expected a standard attribute (PatientID, 00100020) or { creator: 'GEIIS', tag: '0905xx30' }, got 42 (write it in quotes: '42'; YAML reads 00100020 as a number)",
      "profiles/site.yaml:6: rules[3].removePrivate.groups[0]: expected an odd (private) group as 4 hex digits such as '0009', got '0010'",
    ]);
  });

  it('every rule needs a reason; one action per rule; known character sets', () => {
    expect(
      problems(`rules:
  - set: { attribute: PatientID, value: x }
  - set: { attribute: PatientID, value: x }
    remove: { attribute: PatientID }
    reason: r
  - reason: r
  - charset: { assume: ISO_IR 999 }
    reason: r
  - charset: { replace: ISO_IR 6 }
    reason: r
  - accession: { maxLength: 20 }
    reason: r
    code: FIX
`),
    ).toEqual([
      "profiles/site.yaml:2: rules[0]: every rule needs a reason (recorded with the original values): give it 'reason:' or give the profile a default 'reason:'",
      'profiles/site.yaml:3: rules[1]: one action per rule, got set and remove: write them as separate rules',
      'profiles/site.yaml:6: rules[2]: a rule needs one action: set, remove, copy, map, regex, patientId, removePrivate, charset, accession',
      "profiles/site.yaml:7: rules[3].charset.assume: 'ISO_IR 999' is not a Specific Character Set Strata knows (e.g. 'ISO_IR 100', 'ISO_IR 192', '\\ISO 2022 IR 87')",
      "profiles/site.yaml:9: rules[4].charset: 'replace' and 'with' go together",
      'profiles/site.yaml:11: rules[5].accession.maxLength: must be at most 16',
      "profiles/site.yaml:13: rules[5].code: must be COERCE or CORRECT, got 'FIX'",
    ]);
  });

  it('missing keys, wrong types, YAML syntax errors, a bad file name', () => {
    expect(
      problems(`reason: r
rules:
  - set: { value: x }
  - removePrivate: { creators: [] }
  - map: { attribute: Modality, values: [a] }
`),
    ).toEqual([
      "profiles/site.yaml:3: rules[0].set.attribute: missing: set needs 'attribute'",
      'profiles/site.yaml:4: rules[1].removePrivate.creators: expected at least one entry',
      'profiles/site.yaml:5: rules[2].map.values: expected a mapping, got a list',
    ]);
    expect(problems('rules: [\n')).toEqual([
      expect.stringMatching(/^profiles\/site\.yaml:\d+: YAML syntax error: /),
    ]);
    expect(problems('description: no rules\n')).toEqual([
      "profiles/site.yaml:1: a profile needs 'rules:', a list of rules (it may be empty)",
    ]);
    expect(problems('rules: []\n', 'bad name')).toEqual([
      'profiles/bad name.yaml: not a profile name: letters, digits, . _ - (at most 64 characters, starting with a letter or digit)',
    ]);
  });
});
