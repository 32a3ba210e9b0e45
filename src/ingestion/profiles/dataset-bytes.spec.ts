import { describe, expect, it } from 'vitest';
// eslint-disable-next-line no-restricted-imports -- test fixtures only
import { encodeElement as fixtureElement, type FixtureElement } from '../../dicom/testing/index.js';
import {
  encodeElement,
  encodeItem,
  encodeSequence,
  SpliceError,
  walkElements,
  walkItems,
} from './dataset-bytes.js';

const EXPLICIT = { explicitVr: true, littleEndian: true };
const IMPLICIT = { explicitVr: false, littleEndian: true };

function bytes(elements: FixtureElement[], explicitVr = true, littleEndian = true): Buffer {
  return Buffer.concat(
    elements.map((e) => fixtureElement(e, { explicitVr, littleEndian, text: 'latin1' })),
  );
}

describe('walkElements', () => {
  it('walks top-level elements, skipping nested undefined-length sequences whole', () => {
    const b = bytes([
      { tag: '00080016', vr: 'UI', value: '1.2' },
      {
        tag: '00081110',
        vr: 'SQ',
        items: [
          [
            { tag: '00081150', vr: 'UI', value: '1.2' },
            { tag: '00081199', vr: 'SQ', items: [[], []] },
          ],
          [],
        ],
      },
      { tag: '00100010', vr: 'PN', value: 'A' },
    ]);
    const { elements } = walkElements(b, EXPLICIT);
    expect(elements.map((e) => [e.tag.toString(16), e.vr, e.valueLength])).toEqual([
      ['80016', 'UI', 4],
      ['81110', 'SQ', null],
      ['100010', 'PN', 2],
    ]);
    expect(elements.at(-1)!.end).toBe(b.length);
    const items = walkItems(b, EXPLICIT, elements[1]!.valueStart, null);
    expect(items).toHaveLength(2);
    expect(items[1]!.end).toBe(elements[1]!.end - 8);
  });

  it('reads a UN sequence of undefined length as implicit VR inside', () => {
    const inner = bytes([{ tag: '00081150', vr: 'UI', value: '1.2' }], false);
    const un = Buffer.concat([
      Buffer.from([0x09, 0x00, 0x10, 0x10]),
      Buffer.from('UN\0\0'),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
      inner,
      Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]),
      Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]),
    ]);
    expect(walkElements(un, EXPLICIT).elements[0]!.end).toBe(un.length);
  });

  it('implicit VR and big endian', () => {
    const imp = bytes(
      [{ tag: '00081110', vr: 'SQ', items: [[{ tag: '00081150', vr: 'UI', value: '1' }]] }],
      false,
    );
    expect(walkElements(imp, IMPLICIT).elements[0]!.end).toBe(imp.length);
    const be = bytes([{ tag: '00100020', vr: 'LO', value: 'abc' }], true, false);
    expect(walkElements(be, { explicitVr: true, littleEndian: false }).elements[0]).toMatchObject({
      tag: 0x00100020,
      valueLength: 4,
    });
  });

  it('refuses what it cannot walk safely', () => {
    const ok = bytes([{ tag: '00100020', vr: 'LO', value: 'abcd' }]);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', ok.subarray(0, 10), /overruns|ends inside/],
      [
        'bad VR',
        Buffer.concat([ok.subarray(0, 4), Buffer.from('l0'), ok.subarray(6)]),
        /invalid VR/,
      ],
      ['item at top level', Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]), /item tag/],
      [
        'undefined length on LO',
        Buffer.concat([
          ok.subarray(0, 4),
          Buffer.from('OF\0\0'),
          Buffer.from([0xff, 0xff, 0xff, 0xff]),
        ]),
        /cannot have one|not closed/,
      ],
    ];
    for (const [what, b, message] of cases) {
      expect(() => walkElements(b, EXPLICIT), what).toThrow(SpliceError);
      expect(() => walkElements(b, EXPLICIT), what).toThrow(message);
    }
  });
});

describe('encoding', () => {
  it('pads UI with NUL and text with a space; sequences and items of defined length', () => {
    expect(encodeElement(0x00080018, 'UI', Buffer.from('1.2.3'), EXPLICIT).subarray(8)).toEqual(
      Buffer.from('1.2.3\0'),
    );
    expect(encodeElement(0x00100020, 'LO', Buffer.from('abc'), EXPLICIT).subarray(8)).toEqual(
      Buffer.from('abc '),
    );
    const seq = encodeSequence(
      0x04000561,
      [encodeItem(encodeElement(0x04000563, 'LO', Buffer.from('STRATA'), EXPLICIT), EXPLICIT)],
      EXPLICIT,
    );
    expect(seq).toEqual(
      bytes([
        {
          tag: '04000561',
          vr: 'SQ',
          undefinedLength: false,
          items: [[{ tag: '04000563', vr: 'LO', value: 'STRATA' }]],
        },
      ]),
    );
    expect(() => encodeElement(0x00100020, 'LO', Buffer.alloc(70000), EXPLICIT)).toThrow(/65534/);
  });
});
