import { describe, expect, it } from 'vitest';
import { DicomFormatError } from './errors.js';
import {
  TransferSyntax,
  datasetEncoding,
  isEncapsulatedTransferSyntax,
  isStorageSopClass,
  isValidUid,
} from './uids.js';

describe('isValidUid', () => {
  it.each(['1.2.840.10008.1.2', '0.0', '2.25.1234567890', '1', '1.0.2'])('accepts %s', (uid) => {
    expect(isValidUid(uid)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['leading zero', '1.02.3'],
    ['empty component', '1..2'],
    ['trailing dot', '1.2.'],
    ['leading dot', '.1.2'],
    ['letters', '1.2.a'],
    ['padding', '1.2\0'],
    ['space', '1.2 '],
    ['65 characters', `1.${'2'.repeat(63)}`],
  ])('rejects %s', (_what, uid) => {
    expect(isValidUid(uid)).toBe(false);
  });

  it('accepts exactly 64 characters', () => {
    expect(isValidUid(`1.${'2'.repeat(62)}`)).toBe(true);
  });
});

describe('isStorageSopClass', () => {
  it.each([
    '1.2.840.10008.5.1.4.1.1.2', // CT
    '1.2.840.10008.5.1.4.1.1.4', // MR
    '1.2.840.10008.5.1.4.1.1.88.22', // Enhanced SR
    '1.2.840.10008.5.1.4.1.1.104.1', // Encapsulated PDF
    '1.2.840.10008.5.1.4.1.1.481.5', // RT Plan
    '1.2.840.10008.5.1.4.34.7', // RT Beams Delivery Instruction
    '1.2.840.10008.5.1.4.38.1', // Hanging Protocol
    '1.2.840.10008.5.1.4.39.1', // Color Palette
    '1.2.840.10008.5.1.4.43.1', // Generic Implant Template
  ])('%s is storage', (uid) => {
    expect(isStorageSopClass(uid)).toBe(true);
  });

  it.each([
    '1.2.840.10008.1.1', // Verification
    '1.2.840.10008.5.1.4.1.2.2.1', // Study Root Q/R FIND
    '1.2.840.10008.5.1.4.38.2', // Hanging Protocol FIND
    '1.2.840.10008.5.1.4.1.1', // the root itself
    '1.2.840.10008.5.1.4.1.1.02', // invalid UID under the root
    '1.3.12.2.1107.5.9.1', // a private (vendor) class
  ])('%s is not', (uid) => {
    expect(isStorageSopClass(uid)).toBe(false);
  });
});

describe('datasetEncoding', () => {
  it('knows the uncompressed syntaxes', () => {
    expect(datasetEncoding(TransferSyntax.ImplicitVRLittleEndian)).toEqual({
      explicitVr: false,
      littleEndian: true,
      deflated: false,
    });
    expect(datasetEncoding(TransferSyntax.ExplicitVRBigEndian)).toMatchObject({
      explicitVr: true,
      littleEndian: false,
    });
    expect(datasetEncoding(TransferSyntax.DeflatedExplicitVRLittleEndian).deflated).toBe(true);
    expect(datasetEncoding(TransferSyntax.JPEGBaseline8Bit)).toEqual({
      explicitVr: true,
      littleEndian: true,
      deflated: false,
    });
    // Unknown (private) syntaxes are explicit VR little endian by PS3.5 section 10.
    expect(datasetEncoding('1.2.3.4').explicitVr).toBe(true);
  });

  it('refuses what it cannot walk', () => {
    for (const uid of ['1.2.840.113619.5.2', 'not-a-uid']) {
      expect(() => datasetEncoding(uid)).toThrow(DicomFormatError);
      try {
        datasetEncoding(uid);
      } catch (err) {
        expect((err as DicomFormatError).reason).toBe('unsupported-transfer-syntax');
      }
    }
  });

  it('tells encapsulated syntaxes apart', () => {
    expect(isEncapsulatedTransferSyntax(TransferSyntax.JPEGBaseline8Bit)).toBe(true);
    expect(isEncapsulatedTransferSyntax(TransferSyntax.RLELossless)).toBe(true);
    expect(isEncapsulatedTransferSyntax(TransferSyntax.ExplicitVRLittleEndian)).toBe(false);
    expect(isEncapsulatedTransferSyntax(TransferSyntax.DeflatedExplicitVRLittleEndian)).toBe(false);
  });
});
