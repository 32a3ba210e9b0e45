import { TextDecoder } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeDataset, dictionaryVr, type DecodeContext } from './decode-dataset.js';
import { DicomFormatError } from './errors.js';
import { encodeElement, type FixtureElement, type FixtureEncoding } from './testing/fixtures.js';

const EXPLICIT_LE: FixtureEncoding = { explicitVr: true, littleEndian: true, text: 'latin1' };
const EXPLICIT_BE: FixtureEncoding = { explicitVr: true, littleEndian: false, text: 'latin1' };
const IMPLICIT: FixtureEncoding = { explicitVr: false, littleEndian: true, text: 'latin1' };

const latin1 = new TextDecoder('latin1');

function context(encoding: FixtureEncoding): DecodeContext {
  return {
    explicitVr: encoding.explicitVr,
    littleEndian: encoding.littleEndian,
    decodeText: (b) => latin1.decode(b),
    stripEscapes: false,
  };
}

function decode(elements: FixtureElement[], encoding = EXPLICIT_LE) {
  const bytes = Buffer.concat(elements.map((e) => encodeElement(e, encoding)));
  return decodeDataset(bytes, context(encoding));
}

/** An explicit VR little endian element header with a 32-bit length, for hand-made values. */
function longHeader(tag: number, vr: string, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(tag >>> 16, 0);
  b.writeUInt16LE(tag & 0xffff, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt32LE(length >>> 0, 8);
  return b;
}

function item(group: number, element: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length >>> 0, 4);
  return b;
}

describe('decodeDataset', () => {
  it('decodes every numeric VR in both byte orders', () => {
    for (const encoding of [EXPLICIT_LE, EXPLICIT_BE]) {
      const m = decode(
        [
          { tag: '00280010', vr: 'US', value: [512, 65535] },
          { tag: '00189219', vr: 'SS', value: [-2] },
          { tag: '00081199', vr: 'SQ', items: [] },
          { tag: '00186020', vr: 'SL', value: [-70000] },
          { tag: '00186030', vr: 'UL', value: [4000000000] },
          { tag: '00189087', vr: 'FD', value: [1.25, -0.5] },
          { tag: '00189088', vr: 'FL', value: [0.5] },
          { tag: '00209165', vr: 'AT', value: [0x7fe00010] },
        ],
        encoding,
      );
      expect(m['00280010']).toEqual({ vr: 'US', Value: [512, 65535] });
      expect(m['00189219']).toEqual({ vr: 'SS', Value: [-2] });
      expect(m['00081199']).toEqual({ vr: 'SQ' });
      expect(m['00186020']).toEqual({ vr: 'SL', Value: [-70000] });
      expect(m['00186030']).toEqual({ vr: 'UL', Value: [4000000000] });
      expect(m['00189087']).toEqual({ vr: 'FD', Value: [1.25, -0.5] });
      expect(m['00189088']).toEqual({ vr: 'FL', Value: [0.5] });
      expect(m['00209165']).toEqual({ vr: 'AT', Value: ['7FE00010'] });
    }
  });

  it('gives 64-bit integers beyond 2^53 as strings', () => {
    const value = Buffer.alloc(16);
    value.writeBigUInt64LE(2n ** 63n, 0);
    value.writeBigUInt64LE(42n, 8);
    const bytes = Buffer.concat([longHeader(0x00720082, 'UV', 16), value]);
    const m = decodeDataset(bytes, context(EXPLICIT_LE));
    expect(m['00720082']).toEqual({ vr: 'UV', Value: ['9223372036854775808', 42] });
  });

  it('splits multi-valued text, keeps backslashes in LT, trims padding, maps empty values to null', () => {
    const m = decode([
      { tag: '00080008', vr: 'CS', value: ['ORIGINAL', '', 'AXIAL'] },
      { tag: '00081030', vr: 'LO', value: ' padded ' },
      { tag: '00204000', vr: 'LT', value: '  a\\b  ' },
      { tag: '00180050', vr: 'DS', value: ['2.5', 'x'] },
      { tag: '00200013', vr: 'IS', value: ' 17' },
      { tag: '00100010', vr: 'PN', value: 'Doe^John==Phon' },
    ]);
    expect(m['00080008']).toEqual({ vr: 'CS', Value: ['ORIGINAL', null, 'AXIAL'] });
    expect(m['00081030']).toEqual({ vr: 'LO', Value: ['padded'] });
    expect(m['00204000']).toEqual({ vr: 'LT', Value: ['  a\\b'] });
    expect(m['00180050']).toEqual({ vr: 'DS', Value: [2.5, null] });
    expect(m['00200013']).toEqual({ vr: 'IS', Value: [17] });
    expect(m['00100010']).toEqual({
      vr: 'PN',
      Value: [{ Alphabetic: 'Doe^John', Phonetic: 'Phon' }],
    });
  });

  it('keeps empty items, so item indexes stay those of the data set', () => {
    const m = decode([
      {
        tag: '00081115',
        vr: 'SQ',
        undefinedLength: false,
        items: [[], [{ tag: '00081155', vr: 'UI', value: '1.2.3' }]],
      },
    ]);
    expect(m['00081115']).toEqual({
      vr: 'SQ',
      Value: [{}, { '00081155': { vr: 'UI', Value: ['1.2.3'] } }],
    });
  });

  it('reads a UN sequence of undefined length as implicit VR little endian (PS3.5 6.2.2)', () => {
    const inner = encodeElement({ tag: '00081155', vr: 'UI', value: '1.2.3' }, IMPLICIT);
    const bytes = Buffer.concat([
      longHeader(0x00091010, 'UN', 0xffffffff),
      item(0xfffe, 0xe000, inner.length),
      inner,
      item(0xfffe, 0xe0dd, 0),
    ]);
    const m = decodeDataset(bytes, context(EXPLICIT_LE));
    expect(m['00091010']).toEqual({
      vr: 'SQ',
      Value: [{ '00081155': { vr: 'UI', Value: ['1.2.3'] } }],
    });
  });

  it('makes nested encapsulated pixel data (an icon) a bulk data placeholder', () => {
    const fragments = Buffer.concat([
      item(0xfffe, 0xe000, 0),
      item(0xfffe, 0xe000, 4),
      Buffer.from([1, 2, 3, 4]),
      item(0xfffe, 0xe0dd, 0),
    ]);
    const icon = Buffer.concat([longHeader(0x7fe00010, 'OB', 0xffffffff), fragments]);
    const bytes = Buffer.concat([
      longHeader(0x00880200, 'SQ', 0xffffffff),
      item(0xfffe, 0xe000, 0xffffffff),
      icon,
      item(0xfffe, 0xe00d, 0),
      item(0xfffe, 0xe0dd, 0),
    ]);
    const m = decodeDataset(bytes, context(EXPLICIT_LE));
    expect(m['00880200']).toEqual({
      vr: 'SQ',
      Value: [{ '7FE00010': { vr: 'OB', BulkDataURI: '' } }],
    });
  });

  it('in implicit VR, knows VRs from the dictionary and keeps private bytes opaque', () => {
    const notASequence = Buffer.concat([item(0xfffe, 0xe000, 40), Buffer.alloc(4)]);
    const m = decode(
      [
        { tag: '00280010', vr: 'US', value: [64] },
        { tag: '00090010', vr: 'LO', value: 'ACME' },
        // Starts like an item but does not read as one: stays bytes.
        { tag: '00091020', vr: 'OB', value: notASequence },
      ],
      IMPLICIT,
    );
    expect(m['00280010']).toEqual({ vr: 'US', Value: [64] });
    expect(m['00090010']).toEqual({ vr: 'LO', Value: ['ACME'] });
    expect(m['00091020']).toEqual({ vr: 'UN', InlineBinary: notASequence.toString('base64') });
    expect(dictionaryVr(0x00100010)).toBe('PN');
    expect(dictionaryVr(0x60003000)).toBe('OW'); // repeating group, 'ox'
    expect(dictionaryVr(0x00280000)).toBe('UL'); // group length
    expect(dictionaryVr(0x00091234)).toBe('UN');
  });

  it('fails with DicomFormatError, never a RangeError, on truncated or inconsistent input', () => {
    const whole = Buffer.concat([
      encodeElement({ tag: '00080016', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' }, EXPLICIT_LE),
      encodeElement(
        { tag: '00081115', vr: 'SQ', items: [[{ tag: '00081155', vr: 'UI', value: '1.2' }]] },
        EXPLICIT_LE,
      ),
    ]);
    for (let cut = 1; cut < whole.length; cut++) {
      try {
        decodeDataset(whole.subarray(0, cut), context(EXPLICIT_LE));
      } catch (error) {
        expect(error).toBeInstanceOf(DicomFormatError);
      }
    }
    const badVr = Buffer.from(whole);
    badVr.write('zz', 4, 'latin1');
    expect(() => decodeDataset(badVr, context(EXPLICIT_LE))).toThrow(DicomFormatError);
  });

  it('bounds sequence nesting', () => {
    let inner: FixtureElement[] = [];
    for (let i = 0; i < 80; i++) {
      inner = [{ tag: '00081115', vr: 'SQ', undefinedLength: false, items: [inner] }];
    }
    expect(() => decode(inner, IMPLICIT)).toThrow(/nested deeper/);
  });
});
