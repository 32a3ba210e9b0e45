import { describe, expect, it } from 'vitest';
import { decodeDataSet, type DicomJsonDataset, TransferSyntax } from '../dicom/index.js';
import { FindResponseEncoder, formatDs, padded, textOf } from './c-find-encoder.js';
import { type ResponseKey } from './c-find-identifier.js';

const {
  ImplicitVRLittleEndian: IMPLICIT,
  ExplicitVRLittleEndian: EXPLICIT,
  ExplicitVRBigEndian: BIG_ENDIAN,
  DeflatedExplicitVRLittleEndian: DEFLATED,
} = TransferSyntax;
const UID = '1.2.826.0.1.3680043.8.498.1';

const KEYS: ResponseKey[] = [
  { tag: '00080020', vr: 'DA' },
  { tag: '00080061', vr: 'CS' },
  { tag: '00100010', vr: 'PN' },
  { tag: '00100020', vr: 'LO' },
  { tag: '0020000D', vr: 'UI' },
  { tag: '00201208', vr: 'IS' },
  { tag: '00280010', vr: 'US' },
];

const MATCH: DicomJsonDataset = {
  '00080020': { vr: 'DA', Value: ['20240105'] },
  '00080061': { vr: 'CS', Value: ['CT', 'MR'] },
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] },
  '00100020': { vr: 'LO' },
  '0020000D': { vr: 'UI', Value: [UID] },
  '00201208': { vr: 'IS', Value: [12] },
  '00280010': { vr: 'US', Value: [512] },
};

function encoder(
  ts: string,
  extra: Partial<ConstructorParameters<typeof FindResponseEncoder>[0]> = {},
) {
  return new FindResponseEncoder({
    transferSyntaxUid: ts,
    levelName: 'STUDY',
    retrieveAeTitle: 'STRATA',
    keys: KEYS,
    requestCharset: null,
    ...extra,
  });
}

describe('FindResponseEncoder', () => {
  it.each([
    ['implicit VR little endian', IMPLICIT],
    ['explicit VR little endian', EXPLICIT],
    ['explicit VR big endian', BIG_ENDIAN],
    ['deflated explicit VR little endian', DEFLATED],
  ])('writes exactly the keys, plus level and AE title, that decode back (%s)', (_name, ts) => {
    const bytes = encoder(ts).encode(MATCH);
    expect(bytes.length % 2).toBe(0); // deflated too: padded with a NUL (PS3.5 A.5)
    const decoded = decodeDataSet(bytes, ts);
    expect(Object.keys(decoded)).toEqual([
      '00080020',
      '00080052',
      '00080054',
      '00080061',
      '00100010',
      '00100020',
      '0020000D',
      '00201208',
      '00280010',
    ]);
    expect(decoded).toMatchObject({
      '00080052': { vr: 'CS', Value: ['STUDY'] },
      '00080054': { vr: 'AE', Value: ['STRATA'] },
      '00080061': { vr: 'CS', Value: ['CT', 'MR'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] },
      '00100020': { vr: 'LO' },
      '0020000D': { vr: 'UI', Value: [UID] },
      '00201208': { vr: 'IS', Value: [12] },
      '00280010': { vr: 'US', Value: [512] },
    });
  });

  it('sends a key without a value, or absent from the match, with zero length', () => {
    const bytes = encoder(EXPLICIT).encode({});
    const decoded = decodeDataSet(bytes, EXPLICIT);
    expect(decoded['00100010']).toEqual({ vr: 'PN' });
    expect(decoded['00280010']).toEqual({ vr: 'US' });
    // Explicit VR: 8-byte headers; the level 'STUDY ' and AE 'STRATA' padded to even lengths.
    expect(bytes.length).toBe(7 * 8 + (8 + 6) + (8 + 6));
  });

  it('pads UI with NUL and text with spaces to even lengths', () => {
    expect(padded('1.2.3', 'UI', 'latin1')).toEqual(Buffer.from('1.2.3\0'));
    expect(padded('CT', 'CS', 'latin1')).toEqual(Buffer.from('CT'));
    expect(padded('Doe', 'PN', 'latin1')).toEqual(Buffer.from('Doe '));
    expect(padded('Mü', 'PN', 'utf8')).toEqual(Buffer.from('Mü ', 'utf8'));
    const bytes = encoder(IMPLICIT, { keys: [{ tag: '0020000D', vr: 'UI' }] }).encode({
      '0020000D': { vr: 'UI', Value: ['1.2.3'] },
    });
    // Implicit VR: tag, 32-bit length, value.
    const uid = bytes.subarray(bytes.length - 14);
    expect(uid.readUInt16LE(0)).toBe(0x0020);
    expect(uid.readUInt16LE(2)).toBe(0x000d);
    expect(uid.readUInt32LE(4)).toBe(6);
    expect(uid.subarray(8)).toEqual(Buffer.from('1.2.3\0'));
  });

  it('uses long lengths for the VRs that have them in explicit VR', () => {
    const bytes = encoder(EXPLICIT, { keys: [{ tag: '00081190', vr: 'UR' }] }).encode({
      '00081190': { vr: 'UR', Value: ['http://x/'] },
    });
    const at = bytes.indexOf(Buffer.from('UR'));
    expect(bytes.readUInt16LE(at + 2)).toBe(0);
    expect(bytes.readUInt32LE(at + 4)).toBe(10);
    expect(decodeDataSet(bytes, EXPLICIT)['00081190']).toEqual({ vr: 'UR', Value: ['http://x/'] });
  });

  describe('Specific Character Set', () => {
    const name = (n: string | Record<string, string>): DicomJsonDataset => ({
      ...MATCH,
      '00100010': { vr: 'PN', Value: [typeof n === 'string' ? { Alphabetic: n } : n] },
    });

    it('plain ASCII: left out, unless the request had the key', () => {
      expect(decodeDataSet(encoder(EXPLICIT).encode(MATCH), EXPLICIT)['00080005']).toBeUndefined();
      const asked = encoder(EXPLICIT, { requestCharset: '' }).encode(MATCH);
      expect(decodeDataSet(asked, EXPLICIT)['00080005']).toEqual({ vr: 'CS' });
    });

    it('beyond ASCII: UTF-8 declared as ISO_IR 192, per match', () => {
      const e = encoder(EXPLICIT);
      const bytes = e.encode(name('Müller^Hans'));
      expect(bytes.includes(Buffer.from('Müller^Hans', 'utf8'))).toBe(true);
      const decoded = decodeDataSet(bytes, EXPLICIT);
      expect(decoded['00080005']).toEqual({ vr: 'CS', Value: ['ISO_IR 192'] });
      expect(decoded['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Müller^Hans' }] });
      expect(decodeDataSet(e.encode(MATCH), EXPLICIT)['00080005']).toBeUndefined();
    });

    it('a request in ISO_IR 192 is answered in ISO_IR 192 throughout', () => {
      const bytes = encoder(IMPLICIT, { requestCharset: 'ISO_IR 192' }).encode(MATCH);
      expect(decodeDataSet(bytes, IMPLICIT)['00080005']).toEqual({
        vr: 'CS',
        Value: ['ISO_IR 192'],
      });
    });

    it('a request in ISO_IR 100 is answered in Latin-1 while the values fit', () => {
      const e = encoder(EXPLICIT, { requestCharset: 'ISO_IR 100' });
      const latin = e.encode(name('Müller^Hans'));
      expect(latin.includes(Buffer.from('Müller^Hans', 'latin1'))).toBe(true);
      expect(decodeDataSet(latin, EXPLICIT)).toMatchObject({
        '00080005': { Value: ['ISO_IR 100'] },
        '00100010': { Value: [{ Alphabetic: 'Müller^Hans' }] },
      });
      const kanji = { Alphabetic: 'Yamada', Ideographic: '山田' };
      const decoded = decodeDataSet(e.encode(name(kanji)), EXPLICIT);
      expect(decoded['00080005']).toEqual({ vr: 'CS', Value: ['ISO_IR 192'] });
      expect(decoded['00100010']).toEqual({ vr: 'PN', Value: [kanji] });
    });
  });

  it('binary VRs in both byte orders', () => {
    const keys: ResponseKey[] = [
      { tag: '00181063', vr: 'DS' },
      { tag: '00189004', vr: 'SS' },
      { tag: '00281050', vr: 'DS' },
      { tag: '00720026', vr: 'AT' },
      { tag: '00720064', vr: 'FD' },
    ];
    const match: DicomJsonDataset = {
      '00181063': { vr: 'DS', Value: [33.333333333333336] },
      '00189004': { vr: 'SS', Value: [-5] },
      '00281050': { vr: 'DS', Value: [40, -2.5] },
      '00720026': { vr: 'AT', Value: ['00100010'] },
      '00720064': { vr: 'FD', Value: [1.5] },
    };
    for (const ts of [EXPLICIT, BIG_ENDIAN]) {
      const decoded = decodeDataSet(encoder(ts, { keys }).encode(match), ts);
      expect(decoded).toMatchObject({
        '00181063': { vr: 'DS', Value: [33.3333333333333] },
        '00189004': { vr: 'SS', Value: [-5] },
        '00281050': { vr: 'DS', Value: [40, -2.5] },
        '00720026': { vr: 'AT', Value: ['00100010'] },
        '00720064': { vr: 'FD', Value: [1.5] },
      });
    }
  });

  it('text values: PN groups, single-valued texts, DS within 16 characters', () => {
    expect(
      textOf('PN', {
        vr: 'PN',
        Value: [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎' }, { Alphabetic: 'X' }],
      }),
    ).toBe('Yamada^Tarou=山田^太郎\\X');
    expect(textOf('LT', { vr: 'LT', Value: ['a\\b'] })).toBe('a\\b');
    expect(textOf('IS', { vr: 'IS', Value: [1, null, 3] })).toBe('1\\\\3');
    expect(formatDs(1 / 3).length).toBeLessThanOrEqual(16);
    expect(formatDs(-1.2345678901234567e-100).length).toBeLessThanOrEqual(16);
    const big = formatDs(123456789012345680000);
    expect(big.length).toBeLessThanOrEqual(16);
    expect(Number(big) / 123456789012345680000).toBeCloseTo(1, 10);
    expect(formatDs(0.5)).toBe('0.5');
  });
});
