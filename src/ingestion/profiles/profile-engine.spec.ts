import { describe, expect, it } from 'vitest';
import { parseHeaderSync, type DicomJsonElement } from '../../dicom/index.js';
// eslint-disable-next-line no-restricted-imports -- test fixtures only
import {
  makeInstance,
  type FixtureElement,
  type InstanceOptions,
} from '../../dicom/testing/index.js';
import { walkElements } from './dataset-bytes.js';
import { applyProfile, ProfileApplyError, restoreOriginals } from './profile-engine.js';
import { type VendorProfile } from './profile-model.js';
import { readProfile } from './profile-schema.js';

const NOW = new Date('2025-03-04T05:06:07.089Z');
const CTX = { source: 'GE-PACS', now: NOW };

function profile(yaml: string, name = 'test'): VendorProfile {
  const { profile: p, issues } = readProfile(`profiles/${name}.yaml`, name, Buffer.from(yaml));
  expect(issues).toEqual([]);
  return p!;
}

/** A header as HeaderCapture gives it: the data set before Pixel Data. */
function header(opts: InstanceOptions = {}) {
  const i = makeInstance({ pixelBytes: 64, ...opts });
  return { bytes: i.dataset.subarray(0, i.pixelDataOffset!), ts: i.transferSyntaxUid, i };
}

function meta(bytes: Buffer, ts: string): Record<string, DicomJsonElement> {
  return parseHeaderSync(bytes, ts).metadata;
}

function first(m: Record<string, DicomJsonElement>, tag: string): unknown {
  return m[tag]?.Value?.[0];
}

/** The one Original Attributes Sequence item a profile added last. */
function lastItem(m: Record<string, DicomJsonElement>): Record<string, DicomJsonElement> {
  const items = m['04000561']!.Value as Record<string, DicomJsonElement>[];
  return items.at(-1)!;
}

function modified(m: Record<string, DicomJsonElement>): Record<string, DicomJsonElement> {
  return (lastItem(m)['04000550']!.Value as Record<string, DicomJsonElement>[])[0]!;
}

/** Element bytes by tag key, for byte-for-byte comparisons. */
function elementBytes(bytes: Buffer, explicitVr = true, littleEndian = true): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of walkElements(bytes, { explicitVr, littleEndian }).elements) {
    out.set(e.tag.toString(16).toUpperCase().padStart(8, '0'), bytes.subarray(e.start, e.end));
  }
  return out;
}

function applyError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ProfileApplyError);
    return (error as Error).message;
  }
  throw new Error('expected a ProfileApplyError');
}

describe('applyProfile: the actions', () => {
  it('set adds an absent attribute, records it as added (empty) with the reason, COERCE', () => {
    const h = header();
    const p = profile(`
reason: site default
rules:
  - set: { attribute: InstitutionName, value: General Hospital }
    reason: the PACS sends no institution
`);
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    expect(out.changes).toEqual([
      {
        tag: '00080080',
        keyword: 'InstitutionName',
        rule: 'set',
        ruleIndex: 1,
        before: null,
        after: 'General Hospital',
        reason: 'the PACS sends no institution',
      },
    ]);
    expect(out.changedAttributes).toBe(1);
    expect(out.code).toBe('COERCE');
    const m = meta(out.headerBytes, h.ts);
    expect(first(m, '00080080')).toBe('General Hospital');
    const item = lastItem(m);
    expect(first(item, '04000562')).toBe('20250304050607.089000+0000');
    expect(first(item, '04000563')).toBe('STRATA');
    expect(first(item, '04000564')).toBe('GE-PACS');
    expect(first(item, '04000565')).toBe('COERCE');
    expect(first(item, '00090010')).toBe('STRATA PROFILE');
    expect(first(item, '00091001')).toBe('test');
    expect(first(item, '00091002')).toBe(
      'InstitutionName (0008,0080): the PACS sends no institution',
    );
    expect(item['00091004']).toBeDefined(); // the item created the sequence
    // Added attributes are in Modified Attributes Sequence with an empty value...
    expect(modified(m)).toEqual({ '00080080': { vr: 'LO' } });
    // ...and listed as added, so that restoring removes them rather than leaving them empty.
    expect(item['00091003']).toEqual({ vr: 'AT', Value: ['00080080'] });
  });

  it('set: when absent / empty, only then', () => {
    const h = header({ extra: [{ tag: '00080080', vr: 'LO', value: '' }] });
    const absent = profile(`
reason: r
rules:
  - set: { attribute: InstitutionName, value: A, when: absent }
`);
    expect(applyProfile(absent, h.bytes, h.ts, CTX).changes).toEqual([]);
    const empty = profile(`
reason: r
rules:
  - set: { attribute: InstitutionName, value: A, when: empty }
  - set: { attribute: StudyDescription, value: B, when: empty }
`);
    const out = applyProfile(empty, h.bytes, h.ts, CTX);
    expect(out.changes.map((c) => [c.keyword, c.before, c.after])).toEqual([
      ['InstitutionName', '', 'A'],
    ]);
    // A changed (not added) attribute keeps its original element in Modified Attributes.
    const m = meta(out.headerBytes, h.ts);
    expect(modified(m)).toEqual({ '00080080': { vr: 'LO' } });
    expect(lastItem(m)['00091003']).toBeUndefined();
  });

  it('set of a list writes a multi-valued attribute', () => {
    const h = header();
    const out = applyProfile(
      profile(`
reason: r
rules:
  - set: { attribute: ImageType, value: [ORIGINAL, PRIMARY, AXIAL] }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    expect(meta(out.headerBytes, h.ts)['00080008']!.Value).toEqual([
      'ORIGINAL',
      'PRIMARY',
      'AXIAL',
    ]);
  });

  it('remove drops an attribute and keeps it in Modified Attributes', () => {
    const h = header({ extra: [{ tag: '00101000', vr: 'LO', value: 'OLD-ID' }] });
    const out = applyProfile(
      profile(`
reason: r
rules:
  - remove: { attribute: OtherPatientIDs }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    const m = meta(out.headerBytes, h.ts);
    expect(m['00101000']).toBeUndefined();
    expect(modified(m)).toEqual({ '00101000': { vr: 'LO', Value: ['OLD-ID'] } });
    expect(out.changes[0]).toMatchObject({ before: 'OLD-ID', after: null });
  });

  it('copy copies a value, honouring `when` on the target', () => {
    const h = header({ patientId: '', extra: [{ tag: '00101000', vr: 'LO', value: 'MRN77' }] });
    const p = profile(`
reason: r
rules:
  - copy: { from: OtherPatientIDs, to: PatientID, when: empty }
  - copy: { from: OtherPatientIDs, to: StudyID, when: absent }
`);
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    const m = meta(out.headerBytes, h.ts);
    expect(first(m, '00100020')).toBe('MRN77');
    expect(first(m, '00200010')).toBe('1'); // present: not copied over
  });

  it('map replaces values from a table (optionally ignoring case); others stay', () => {
    const p = profile(`
reason: r
rules:
  - map: { attribute: Modality, values: { PET: PT, "MR ": MR }, ignoreCase: true }
`);
    const pet = header({ modality: 'pet' });
    expect(
      first(meta(applyProfile(p, pet.bytes, pet.ts, CTX).headerBytes, pet.ts), '00080060'),
    ).toBe('PT');
    const ct = header({ modality: 'CT' });
    expect(applyProfile(p, ct.bytes, ct.ts, CTX).headerBytes).toBe(ct.bytes);
  });

  it('regex rewrites with capture groups', () => {
    const h = header({ studyDescription: 'CT^HEAD W/O' });
    const out = applyProfile(
      profile(`
reason: r
rules:
  - regex: { attribute: StudyDescription, pattern: '\\^', replacement: ' ', flags: g }
  - regex: { attribute: AccessionNumber, pattern: '^ACC(\\d+)$', replacement: 'A-$1' }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    const m = meta(out.headerBytes, h.ts);
    expect(first(m, '00081030')).toBe('CT HEAD W/O');
    expect(first(m, '00080050')).toBe('A-0001');
  });

  it('patientId: prefix (once) and IssuerOfPatientID when absent', () => {
    const p = profile(`
reason: r
rules:
  - patientId: { prefix: 'GE-', issuer: HOSP_A }
`);
    const h = header({ patientId: 'P123' });
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    const m = meta(out.headerBytes, h.ts);
    expect(first(m, '00100020')).toBe('GE-P123');
    expect(first(m, '00100021')).toBe('HOSP_A');
    expect(out.changedAttributes).toBe(2);
    // Applying the profile again to its own output changes nothing more (prefix present, issuer set).
    const again = applyProfile(p, out.headerBytes, h.ts, CTX);
    expect(again.changes).toEqual([]);
    // An issuer already there stays (issuerWhen: empty, the default).
    const withIssuer = header({ extra: [{ tag: '00100021', vr: 'LO', value: 'OTHER' }] });
    const m2 = meta(applyProfile(p, withIssuer.bytes, withIssuer.ts, CTX).headerBytes, h.ts);
    expect(first(m2, '00100021')).toBe('OTHER');
  });

  it('copy reads a private element through its creator, whatever block it reserved', () => {
    const p = profile(`
reason: r
rules:
  - copy: { from: { creator: GEIIS, tag: '0905xx30' }, to: IssuerOfPatientID, when: empty }
`);
    for (const transferSyntax of ['explicit', 'implicit'] as const) {
      const h = header({
        transferSyntax,
        extra: [
          { tag: '09050010', vr: 'LO', value: 'OTHER VENDOR' },
          { tag: '09051030', vr: 'LO', value: 'NOT THIS ONE' },
          { tag: '09050012', vr: 'LO', value: 'GEIIS' },
          { tag: '09051230', vr: 'LO', value: 'HOSP_AUTH' },
        ],
      });
      const out = applyProfile(p, h.bytes, h.ts, CTX);
      expect(first(meta(out.headerBytes, h.ts), '00100021'), transferSyntax).toBe('HOSP_AUTH');
    }
    // Without the creator, nothing to copy.
    const none = header({ extra: [{ tag: '09051230', vr: 'LO', value: 'X' }] });
    expect(applyProfile(p, none.bytes, none.ts, CTX).changes).toEqual([]);
    // A binary private element is not text.
    const binary = header({
      extra: [
        { tag: '09050010', vr: 'LO', value: 'GEIIS' },
        { tag: '09051030', vr: 'UL', value: [7] },
      ],
    });
    expect(applyError(() => applyProfile(p, binary.bytes, binary.ts, CTX))).toMatch(
      /the private element \(0905,xx30\) of 'GEIIS' is not a text value here \(VR UL\)/,
    );
  });

  it('removePrivate can be limited to some groups', () => {
    const h = header({
      extra: [
        { tag: '00090010', vr: 'LO', value: 'GEIIS' },
        { tag: '00091010', vr: 'LO', value: 'thumbnail' },
        { tag: '09050010', vr: 'LO', value: 'GEIIS' },
        { tag: '09051030', vr: 'LO', value: 'AUTH' },
      ],
    });
    const out = applyProfile(
      profile(`
reason: r
rules:
  - removePrivate: { creators: [GEIIS], groups: ['0009'] }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    const m = meta(out.headerBytes, h.ts);
    expect(m['00090010']).toBeUndefined();
    expect(first(m, '09051030')).toBe('AUTH');
  });

  it('removePrivate removes the creator and its block only', () => {
    const h = header({
      extra: [
        { tag: '00090010', vr: 'LO', value: 'GEMS_IDEN_01' },
        { tag: '00090011', vr: 'LO', value: 'KEEP ME' },
        { tag: '00091001', vr: 'LO', value: 'Doe^Jane (PHI)' },
        { tag: '00091002', vr: 'SH', value: 'X' },
        { tag: '00091101', vr: 'LO', value: 'kept' },
        { tag: '00190010', vr: 'LO', value: 'GEMS_ACQU_01 ' },
        { tag: '00191001', vr: 'DS', value: '1.5' },
      ],
    });
    const out = applyProfile(
      profile(`
reason: private groups carry patient data
rules:
  - removePrivate: { creators: [GEMS_IDEN_01, GEMS_ACQU_01] }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    const m = meta(out.headerBytes, h.ts);
    for (const gone of ['00090010', '00091001', '00091002', '00190010', '00191001']) {
      expect(m[gone], gone).toBeUndefined();
    }
    expect(first(m, '00090011')).toBe('KEEP ME');
    expect(first(m, '00091101')).toBe('kept');
    expect(out.changes.map((c) => c.keyword)).toEqual([
      "private block 'GEMS_IDEN_01' (0009,10xx)",
      "private block 'GEMS_ACQU_01' (0019,10xx)",
    ]);
    expect(out.changedAttributes).toBe(5);
    expect(Object.keys(modified(m))).toEqual([
      '00090010',
      '00091001',
      '00091002',
      '00190010',
      '00191001',
    ]);
  });

  it('charset assume: declares ISO_IR 100 for Latin-1 bytes sent without one (CORRECT)', () => {
    const p = profile(`
rules:
  - charset: { assume: ISO_IR 100 }
    reason: the PACS writes Latin-1 without (0008,0005)
`);
    const latin = header({ patientName: 'Müller^Zoë' });
    const before = parseHeaderSync(latin.bytes, latin.ts);
    expect(before.specificCharacterSet).toBeNull();
    const out = applyProfile(p, latin.bytes, latin.ts, CTX);
    expect(out.code).toBe('CORRECT');
    const after = parseHeaderSync(out.headerBytes, latin.ts);
    expect(after.specificCharacterSet).toBe('ISO_IR 100');
    expect(after.attributes.patientName).toBe('Müller^Zoë');
    expect(first(lastItem(after.metadata), '04000565')).toBe('CORRECT');
    // Plain ASCII needs no repair: nothing changes.
    const ascii = header();
    expect(applyProfile(p, ascii.bytes, ascii.ts, CTX).headerBytes).toBe(ascii.bytes);
  });

  it('charset replace: ISO_IR 192 declared over Latin-1 bytes; valid UTF-8 stays', () => {
    const p = profile(`
reason: r
rules:
  - charset: { replace: ISO_IR 192, with: ISO_IR 100 }
`);
    const wrong = header({
      patientName: 'Müller',
      extra: [{ tag: '00080005', vr: 'CS', value: 'ISO_IR 192' }],
    });
    const out = applyProfile(p, wrong.bytes, wrong.ts, CTX);
    expect(parseHeaderSync(out.headerBytes, wrong.ts).attributes.patientName).toBe('Müller');
    expect(out.changes[0]).toMatchObject({ before: 'ISO_IR 192', after: 'ISO_IR 100' });
    const right = header({ patientName: 'Müller', charset: 'ISO_IR 192' });
    expect(applyProfile(p, right.bytes, right.ts, CTX).changes).toEqual([]);
  });

  it('charset repair refuses when the new set cannot hold the bytes either', () => {
    const p = profile(`
reason: r
rules:
  - charset: { assume: ISO_IR 192 }
`);
    const latin = header({ patientName: 'Müller' });
    expect(applyError(() => applyProfile(p, latin.bytes, latin.ts, CTX))).toMatch(
      /not valid in 'ISO_IR 192' either/,
    );
  });

  it('accession: trim, upper-case, strip a prefix and leading zeros', () => {
    const p = profile(`
reason: r
rules:
  - accession: { uppercase: true, stripPrefix: [RIS-, ACC], stripLeadingZeros: true }
`);
    const h = header({ accession: ' acc000123' });
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    expect(first(meta(out.headerBytes, h.ts), '00080050')).toBe('123');
    expect(out.changes[0]).toMatchObject({ before: ' acc000123', after: '123' });
  });

  it('accession: too long is refused, or cut as the rule says', () => {
    const long = header({ accession: 'ABCDEFGHIJKLMNOP' });
    const refuse = profile(`
reason: r
rules:
  - accession: { maxLength: 10 }
`);
    expect(applyError(() => applyProfile(refuse, long.bytes, long.ts, CTX))).toMatch(
      /rule 1 \(accession\): the normalised AccessionNumber is longer than 10 characters/,
    );
    const keepEnd = profile(`
reason: r
rules:
  - accession: { maxLength: 10, tooLong: keep-end }
`);
    const out = applyProfile(keepEnd, long.bytes, long.ts, CTX);
    expect(first(meta(out.headerBytes, long.ts), '00080050')).toBe('GHIJKLMNOP');
  });

  it('writes non-ASCII text in the declared character set, refuses what it cannot hold', () => {
    const p = profile(`
reason: r
rules:
  - set: { attribute: InstitutionName, value: Hôpital Général }
`);
    const latin1 = header({ charset: 'ISO_IR 100' });
    const out = applyProfile(p, latin1.bytes, latin1.ts, CTX);
    expect(out.headerBytes.includes(Buffer.from('Hôpital Général', 'latin1'))).toBe(true);
    expect(first(meta(out.headerBytes, latin1.ts), '00080080')).toBe('Hôpital Général');
    const utf8 = header({ charset: 'ISO_IR 192' });
    const out8 = applyProfile(p, utf8.bytes, utf8.ts, CTX);
    expect(out8.headerBytes.includes(Buffer.from('Hôpital Général', 'utf8'))).toBe(true);
    const ascii = header();
    expect(applyError(() => applyProfile(p, ascii.bytes, ascii.ts, CTX))).toMatch(
      /rule 1 \(set\): the new InstitutionName value cannot be written in the data set's character set \(the default repertoire, ASCII\)/,
    );
  });

  it('a standard attribute sent as UN is read and rewritten with its dictionary VR', () => {
    const h = header({ extra: [{ tag: '00080080', vr: 'UN', value: Buffer.from('Old Name') }] });
    const out = applyProfile(
      profile(`
reason: r
rules:
  - regex: { attribute: InstitutionName, pattern: Old, replacement: New }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    expect(out.changes[0]).toMatchObject({ before: 'Old Name', after: 'New Name' });
    const m = meta(out.headerBytes, h.ts);
    expect(m['00080080']).toEqual({ vr: 'LO', Value: ['New Name'] });
    expect(restoreOriginals(out.headerBytes, h.ts).headerBytes.equals(h.bytes)).toBe(true);
  });

  it('refuses values the VR cannot hold, without quoting them', () => {
    const p = profile(`
reason: r
rules:
  - set: { attribute: Modality, value: 'ct scan' }
`);
    const h = header();
    const message = applyError(() => applyProfile(p, h.bytes, h.ts, CTX));
    expect(message).toMatch(/upper-case letters/);
    expect(message).not.toMatch(/ct scan/);
  });

  it('a later rule that restores the original value leaves the attribute unchanged', () => {
    const h = header({ modality: 'CT' });
    const p = profile(`
reason: r
rules:
  - set: { attribute: Modality, value: MR }
  - set: { attribute: Modality, value: CT }
`);
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    expect(out.changes).toEqual([]);
    expect(out.headerBytes).toBe(h.bytes);
  });
});

describe('applyProfile: byte-level splice', () => {
  const nested: FixtureElement[] = [
    // An undefined-length sequence with a nested undefined-length sequence and item.
    {
      tag: '00081110',
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          { tag: '00081150', vr: 'UI', value: '1.2.3' },
          {
            tag: '00081199',
            vr: 'SQ',
            undefinedLength: true,
            items: [[{ tag: '00081155', vr: 'UI', value: '1.2.3.4' }]],
          },
        ],
      ],
    },
    // A defined-length sequence.
    {
      tag: '00081140',
      vr: 'SQ',
      undefinedLength: false,
      items: [[{ tag: '00081155', vr: 'UI', value: '9.8.7' }]],
    },
    // Private blocks, one to remove, one to keep, with an odd-padded value.
    { tag: '00290010', vr: 'LO', value: 'SIEMENS CSA HEADER' },
    { tag: '00291010', vr: 'OB', value: Buffer.from([1, 2, 3, 4, 5, 6]) },
    { tag: '00330010', vr: 'LO', value: 'ACME 1.0' },
    { tag: '00331001', vr: 'UN', value: Buffer.from('opaque') },
    // An earlier Original Attributes Sequence (undefined length), from another system.
    {
      tag: '04000561',
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          {
            tag: '04000550',
            vr: 'SQ',
            undefinedLength: true,
            items: [[{ tag: '00100020', vr: 'LO', value: 'FOREIGN-1' }]],
          },
          { tag: '04000562', vr: 'DT', value: '20200101000000' },
          { tag: '04000563', vr: 'LO', value: 'OTHER SYSTEM' },
          { tag: '04000564', vr: 'LO', value: 'ELSEWHERE' },
          { tag: '04000565', vr: 'CS', value: 'COERCE' },
        ],
      ],
    },
  ];
  const p = profile(`
reason: site rules
rules:
  - patientId: { prefix: 'X-', issuer: SITE }
  - removePrivate: { creators: ['SIEMENS CSA HEADER'] }
  - accession: { stripPrefix: ACC, stripLeadingZeros: true }
`);

  for (const transferSyntax of ['explicit', 'implicit', 'explicit-big-endian'] as const) {
    it(`${transferSyntax}: untouched elements are byte-identical, the old sequence item stays, restore gives the original back`, () => {
      const h = header({ transferSyntax, extra: nested });
      const explicitVr = transferSyntax !== 'implicit';
      const le = transferSyntax !== 'explicit-big-endian';
      const out = applyProfile(p, h.bytes, h.ts, { ...CTX, bulkTag: '7FE00010' });
      const before = elementBytes(h.bytes, explicitVr, le);
      const after = elementBytes(out.headerBytes, explicitVr, le);
      const touched = new Set([
        '00100020',
        '00100021',
        '00080050',
        '00290010',
        '00291010',
        '04000561',
      ]);
      for (const [tag, bytes] of before) {
        if (touched.has(tag)) continue;
        expect(after.get(tag)?.equals(bytes), tag).toBe(true);
      }
      expect(after.has('00290010')).toBe(false);
      expect(after.has('00291010')).toBe(false);
      expect(after.get('00330010')?.equals(before.get('00330010')!)).toBe(true);
      // Ascending order and even lengths throughout (walkElements checks order).
      expect(out.headerBytes.length % 2).toBe(0);
      const m = meta(out.headerBytes, h.ts);
      const items = m['04000561']!.Value as Record<string, DicomJsonElement>[];
      expect(items).toHaveLength(2);
      expect(first(items[0]!, '04000563')).toBe('OTHER SYSTEM');
      expect(first(items[1]!, '04000563')).toBe('STRATA');
      expect(items[1]!['00091004']).toBeUndefined(); // the sequence existed before
      expect(first(m, '00100020')).toBe('X-PID0001');
      expect(first(m, '00080050')).toBe('1');
      const restored = restoreOriginals(out.headerBytes, h.ts);
      expect(restored.profile).toBe('test');
      expect(restored.headerBytes.equals(h.bytes)).toBe(true);
    });
  }

  it('a defined-length Original Attributes Sequence is extended (its length updated) and restored', () => {
    const h = header({
      extra: [
        {
          tag: '04000561',
          vr: 'SQ',
          undefinedLength: false,
          items: [[{ tag: '04000563', vr: 'LO', value: 'OTHER' }]],
        },
      ],
    });
    const out = applyProfile(p, h.bytes, h.ts, CTX);
    expect((meta(out.headerBytes, h.ts)['04000561']!.Value as unknown[]).length).toBe(2);
    expect(restoreOriginals(out.headerBytes, h.ts).headerBytes.equals(h.bytes)).toBe(true);
  });

  it('profile → restore → original, for every action at once (added, changed, removed)', () => {
    const every = profile(`
reason: everything
rules:
  - charset: { assume: ISO_IR 100 }
  - set: { attribute: InstitutionName, value: Clinique Sainte-Anne }
  - remove: { attribute: StudyID }
  - copy: { from: PatientID, to: OtherPatientIDs }
  - map: { attribute: Modality, values: { CT: CT } }
  - regex: { attribute: StudyDescription, pattern: Synthetic, replacement: Real }
  - patientId: { prefix: 'A:', issuer: ISSUER }
  - removePrivate: { creators: [VENDOR] }
  - accession: { uppercase: true }
`);
    const h = header({
      patientName: 'Gérard',
      accession: 'acc1',
      extra: [
        { tag: '00090010', vr: 'LO', value: 'VENDOR' },
        { tag: '00091000', vr: 'LO', value: 'secret' },
      ],
    });
    const out = applyProfile(every, h.bytes, h.ts, CTX);
    expect(out.changedAttributes).toBe(10);
    const m = meta(out.headerBytes, h.ts);
    expect(first(m, '00080080')).toBe('Clinique Sainte-Anne');
    expect(m['00200010']).toBeUndefined();
    const back = restoreOriginals(out.headerBytes, h.ts);
    expect(back.headerBytes.equals(h.bytes)).toBe(true);
    expect(back.restored).toContain('00100020');
  });

  it('nothing to change: the same buffer, no Original Attributes Sequence', () => {
    const h = header({ patientId: 'X-1', accession: '5' });
    const out = applyProfile(
      profile(`
reason: r
rules:
  - patientId: { prefix: 'X-' }
  - accession: { stripLeadingZeros: true }
`),
      h.bytes,
      h.ts,
      CTX,
    );
    expect(out).toEqual({ headerBytes: h.bytes, changes: [], changedAttributes: 0, code: null });
  });

  it('refuses to change an attribute after the bulk element, or to record after it', () => {
    const h = header();
    const p2 = profile(`
reason: r
rules:
  - set: { attribute: InstitutionName, value: X }
`);
    // An encapsulated document (0042,0011) ended the header: (0400,0561) would come after it.
    expect(
      applyError(() => applyProfile(p2, h.bytes, h.ts, { ...CTX, bulkTag: '00420011' })),
    ).toMatch(/recording the original values: .*comes after the bulk element \(0042,0011\)/);
    expect(
      applyError(() => applyProfile(p2, h.bytes, h.ts, { ...CTX, bulkTag: '00080070' })),
    ).toMatch(/rule 1 \(set\): InstitutionName \(0008,0080\) comes after the bulk element/);
  });
});

describe('applyProfile and restoreOriginals: hostile input', () => {
  const p = profile(`
reason: r
rules:
  - set: { attribute: InstitutionName, value: X }
`);
  const ts = '1.2.840.10008.1.2.1';

  it('a truncated header, an odd length, elements out of order: ProfileApplyError', () => {
    const h = header();
    expect(
      applyError(() => applyProfile(p, h.bytes.subarray(0, h.bytes.length - 3), ts, CTX)),
    ).toMatch(/malformed data set/);
    const odd = Buffer.from(h.bytes);
    odd.writeUInt16LE(7, 6); // the first element's length
    expect(applyError(() => applyProfile(p, odd, ts, CTX))).toMatch(/malformed data set/);
    const swapped = Buffer.concat([
      h.bytes.subarray(0, 0), // keep types simple
      ...[...walkElements(h.bytes, { explicitVr: true, littleEndian: true }).elements]
        .reverse()
        .map((e) => h.bytes.subarray(e.start, e.end)),
    ]);
    expect(applyError(() => applyProfile(p, swapped, ts, CTX))).toMatch(/ascending tag order/);
  });

  it('an unclosed undefined-length sequence, deep nesting: ProfileApplyError', () => {
    const h = header({
      extra: [{ tag: '00081110', vr: 'SQ', undefinedLength: true, items: [[]] }],
    });
    expect(
      applyError(() => applyProfile(p, h.bytes.subarray(0, h.bytes.length - 2), ts, CTX)),
    ).toMatch(/malformed/);
    let deep: FixtureElement = { tag: '00081110', vr: 'SQ', undefinedLength: true, items: [[]] };
    for (let i = 0; i < 80; i++) {
      deep = { tag: '00081110', vr: 'SQ', undefinedLength: true, items: [[deep]] };
    }
    const d = header({ extra: [deep] });
    expect(applyError(() => applyProfile(p, d.bytes, ts, CTX))).toMatch(/nested too deeply/);
  });

  it('random corruption never escapes as anything but ProfileApplyError', () => {
    const h = header({
      extra: [
        {
          tag: '00081110',
          vr: 'SQ',
          undefinedLength: true,
          items: [[{ tag: '00081150', vr: 'UI', value: '1.2' }]],
        },
      ],
    });
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 300; n++) {
      const b = Buffer.from(h.bytes);
      for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      try {
        applyProfile(p, b, ts, CTX);
      } catch (error) {
        expect(error).toBeInstanceOf(ProfileApplyError);
      }
    }
  });

  it('restoreOriginals refuses a header without a Strata item', () => {
    const h = header();
    expect(() => restoreOriginals(h.bytes, ts)).toThrow(/no Original Attributes Sequence/);
    const foreign = header({
      extra: [
        {
          tag: '04000561',
          vr: 'SQ',
          items: [[{ tag: '04000563', vr: 'LO', value: 'OTHER' }]],
        },
      ],
    });
    expect(() => restoreOriginals(foreign.bytes, ts)).toThrow(/not written by Strata/);
  });
});
