import { describe, expect, it } from 'vitest';
import { type DicomJsonDataset } from './decode-dataset.js';
import { decodeDataSet, encodeDataSet } from './dataset-codec.js';
import { DicomFormatError } from './errors.js';

const REPORT: DicomJsonDataset = {
  '00081195': { vr: 'UI', Value: ['1.2.3.4'] },
  '00081199': {
    vr: 'SQ',
    Value: [
      {
        '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
        '00081155': { vr: 'UI', Value: ['1.2.3.5'] },
      },
      {
        '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
        '00081155': { vr: 'UI', Value: ['1.2.3.6'] },
      },
    ],
  },
  '00081198': {
    vr: 'SQ',
    Value: [
      {
        '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
        '00081155': { vr: 'UI', Value: ['1.2.3.7'] },
        '00081197': { vr: 'US', Value: [0x0112] },
      },
    ],
  },
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] },
};

describe('DIMSE data sets: encode, then decode', () => {
  it.each([
    ['implicit VR little endian', '1.2.840.10008.1.2'],
    ['explicit VR little endian', '1.2.840.10008.1.2.1'],
    ['explicit VR big endian', '1.2.840.10008.1.2.2'],
    ['deflated explicit VR little endian', '1.2.840.10008.1.2.1.99'],
  ])('round-trips sequences, UIDs, US and PN in %s', (_name, ts) => {
    const bytes = encodeDataSet(REPORT, ts);
    expect(bytes.length % 2).toBe(0);
    expect(decodeDataSet(bytes, ts)).toEqual(REPORT);
  });

  it('refuses a truncated data set with a format error', () => {
    const bytes = encodeDataSet(REPORT, '1.2.840.10008.1.2.1');
    expect(() => decodeDataSet(bytes.subarray(0, bytes.length - 7), '1.2.840.10008.1.2.1')).toThrow(
      DicomFormatError,
    );
  });

  it('refuses garbage for a deflated transfer syntax', () => {
    expect(() => decodeDataSet(Buffer.from('not deflate'), '1.2.840.10008.1.2.1.99')).toThrow(
      DicomFormatError,
    );
  });
});
