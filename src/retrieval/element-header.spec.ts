import { describe, expect, it } from 'vitest';
import { readElementHeader } from './element-header.js';

const IMPLICIT = { explicitVr: false, littleEndian: true, deflated: false };
const EXPLICIT = { explicitVr: true, littleEndian: true, deflated: false };
const EXPLICIT_BE = { explicitVr: true, littleEndian: false, deflated: false };

describe('readElementHeader', () => {
  it('implicit VR little endian: 8 bytes, 32-bit length', () => {
    const b = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x00, 0x02, 0x00, 0x00]);
    expect(readElementHeader(b, IMPLICIT)).toEqual({
      tag: '7FE00010',
      headerLength: 8,
      valueLength: 512,
    });
  });

  it('explicit VR long VR: 12 bytes; undefined length is null', () => {
    const ow = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 0x00, 0x10, 0x00, 0x00]);
    expect(readElementHeader(ow, EXPLICIT)).toEqual({
      tag: '7FE00010',
      headerLength: 12,
      valueLength: 4096,
    });
    const ob = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(readElementHeader(ob, EXPLICIT)).toEqual({
      tag: '7FE00010',
      headerLength: 12,
      valueLength: null,
    });
    expect(readElementHeader(ob.subarray(0, 10), EXPLICIT)).toBeNull();
  });

  it('explicit VR short VR: 8 bytes, 16-bit length', () => {
    const us = Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00]);
    expect(readElementHeader(us, EXPLICIT)).toEqual({
      tag: '00280010',
      headerLength: 8,
      valueLength: 2,
    });
  });

  it('big endian', () => {
    const ow = Buffer.from([0x7f, 0xe0, 0x00, 0x10, 0x4f, 0x57, 0, 0, 0x00, 0x00, 0x10, 0x00]);
    expect(readElementHeader(ow, EXPLICIT_BE)).toEqual({
      tag: '7FE00010',
      headerLength: 12,
      valueLength: 4096,
    });
  });

  it('needs at least 8 bytes', () => {
    expect(readElementHeader(Buffer.alloc(7), IMPLICIT)).toBeNull();
  });
});

describe('readElementHeader: items and delimiters', () => {
  it('have no VR even in explicit VR', () => {
    const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0x10, 0x00, 0x00, 0x00]);
    expect(readElementHeader(item, EXPLICIT)).toEqual({
      tag: 'FFFEE000',
      headerLength: 8,
      valueLength: 16,
    });
    const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    expect(readElementHeader(end, EXPLICIT)).toEqual({
      tag: 'FFFEE0DD',
      headerLength: 8,
      valueLength: 0,
    });
  });
});
