import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHeaderSync, type DicomJsonElement } from '../../dicom/index.js';
// eslint-disable-next-line no-restricted-imports -- test fixtures only
import { makeInstance, type InstanceOptions } from '../../dicom/testing/index.js';
import { applyProfile, restoreOriginals } from './profile-engine.js';
import { validateProfiles } from './profile-loader.js';

/** The profiles shipped in policies/profiles, each tried on an instance with its vendor's quirk. */

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const { profiles, issues } = validateProfiles(POLICIES);

function run(name: string, opts: InstanceOptions) {
  const i = makeInstance({ pixelBytes: 64, ...opts });
  const header = i.dataset.subarray(0, i.pixelDataOffset!);
  const out = applyProfile(profiles.get(name)!, header, i.transferSyntaxUid, {
    source: 'PACS',
    now: new Date(),
    bulkTag: '7FE00010',
  });
  // Whatever a shipped profile does, it can be undone.
  if (out.changedAttributes > 0) {
    expect(restoreOriginals(out.headerBytes, i.transferSyntaxUid).headerBytes.equals(header)).toBe(
      true,
    );
  }
  return { out, m: parseHeaderSync(out.headerBytes, i.transferSyntaxUid).metadata };
}

function first(m: Record<string, DicomJsonElement>, tag: string): unknown {
  return m[tag]?.Value?.[0];
}

describe('the shipped vendor profiles', () => {
  it('are valid: five vendors and generic', () => {
    expect(issues).toEqual([]);
    expect([...profiles.keys()].sort()).toEqual([
      'agfa-impax',
      'fujifilm-synapse',
      'ge-centricity',
      'generic',
      'sectra',
      'siemens-syngo',
    ]);
  });

  it('generic: Latin-1 without a character set, padded accession numbers', () => {
    const { m } = run('generic', { patientName: 'Müller', accession: ' A12 ' });
    expect(first(m, '00080005')).toBe('ISO_IR 100');
    expect(first(m, '00080050')).toBe('A12');
  });

  it('ge-centricity: issuer from GEIIS (0905,xx30), the GEIIS thumbnail block goes', () => {
    const { m } = run('ge-centricity', {
      extra: [
        { tag: '00090010', vr: 'LO', value: 'GEIIS' },
        { tag: '00091010', vr: 'SQ', items: [[{ tag: '00280010', vr: 'US', value: [8] }]] },
        { tag: '09050010', vr: 'LO', value: 'GEIIS' },
        { tag: '09051030', vr: 'LO', value: 'CENTRAL_HOSPITAL' },
      ],
    });
    expect(first(m, '00100021')).toBe('CENTRAL_HOSPITAL');
    expect(m['00091010']).toBeUndefined();
    expect(first(m, '09051030')).toBe('CENTRAL_HOSPITAL');
  });

  it('agfa-impax: global patient ID kept as an Other Patient ID, UTF-8 name copies go', () => {
    const { m } = run('agfa-impax', {
      extra: [
        { tag: '00310010', vr: 'LO', value: 'MITRA LINKED ATTRIBUTES 1.0' },
        { tag: '00311020', vr: 'LO', value: 'GPI0042' },
        { tag: '00330010', vr: 'LO', value: 'MITRA OBJECT UTF8 ATTRIBUTES 1.0' },
        { tag: '00331013', vr: 'PN', value: 'Doe^Jane' },
      ],
    });
    expect(first(m, '00101000')).toBe('GPI0042');
    expect(m['00331013']).toBeUndefined();
  });

  it('sectra: the request ID of a secondary capture becomes its accession number', () => {
    const { m } = run('sectra', {
      accession: '',
      extra: [
        { tag: '00090010', vr: 'LO', value: 'SECTRA_Ident_01' },
        { tag: '00091001', vr: 'SH', value: 'RQ0001223861' },
      ],
    });
    expect(first(m, '00080050')).toBe('RQ0001223861');
  });

  it('siemens-syngo: the index service block goes, the CSA header stays', () => {
    const { m } = run('siemens-syngo', {
      extra: [
        { tag: '00090010', vr: 'LO', value: 'SIEMENS SYNGO INDEX SERVICE' },
        { tag: '00091045', vr: 'CS', value: 'Y' },
        { tag: '00290010', vr: 'LO', value: 'SIEMENS CSA HEADER' },
        { tag: '00291010', vr: 'OB', value: Buffer.from('SV10') },
      ],
    });
    expect(m['00091045']).toBeUndefined();
    expect(m['00291010']).toBeDefined();
  });

  it('fujifilm-synapse: an absent accession number is added empty; typed ones tidied', () => {
    const absent = run('fujifilm-synapse', { omit: ['00080050'] });
    expect(absent.m['00080050']).toEqual({ vr: 'SH' });
    const typed = run('fujifilm-synapse', { accession: ' acc12' });
    expect(first(typed.m, '00080050')).toBe('ACC12');
  });
});
