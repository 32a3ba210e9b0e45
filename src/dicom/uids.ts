import { DicomFormatError } from './errors.js';

/** Transfer syntax UIDs (PS3.6 Table A-1) that Strata names in code. */
export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  EncapsulatedUncompressedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.98',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JPEGBaseline8Bit: '1.2.840.10008.1.2.4.50',
  JPEGExtended12Bit: '1.2.840.10008.1.2.4.51',
  JPEGLossless: '1.2.840.10008.1.2.4.57',
  JPEGLosslessSV1: '1.2.840.10008.1.2.4.70',
  JPEGLSLossless: '1.2.840.10008.1.2.4.80',
  JPEGLSNearLossless: '1.2.840.10008.1.2.4.81',
  JPEG2000Lossless: '1.2.840.10008.1.2.4.90',
  JPEG2000: '1.2.840.10008.1.2.4.91',
  JPEG2000MCLossless: '1.2.840.10008.1.2.4.92',
  JPEG2000MC: '1.2.840.10008.1.2.4.93',
  JPIPReferenced: '1.2.840.10008.1.2.4.94',
  JPIPReferencedDeflate: '1.2.840.10008.1.2.4.95',
  MPEG2MPML: '1.2.840.10008.1.2.4.100',
  MPEG2MPHL: '1.2.840.10008.1.2.4.101',
  MPEG4HP41: '1.2.840.10008.1.2.4.102',
  MPEG4HP41BD: '1.2.840.10008.1.2.4.103',
  MPEG4HP422D: '1.2.840.10008.1.2.4.104',
  MPEG4HP423D: '1.2.840.10008.1.2.4.105',
  MPEG4HP42STEREO: '1.2.840.10008.1.2.4.106',
  HEVCMP51: '1.2.840.10008.1.2.4.107',
  HEVCM10P51: '1.2.840.10008.1.2.4.108',
  JPEGXLLossless: '1.2.840.10008.1.2.4.110',
  JPEGXLJPEGRecompression: '1.2.840.10008.1.2.4.111',
  JPEGXL: '1.2.840.10008.1.2.4.112',
  HTJ2KLossless: '1.2.840.10008.1.2.4.201',
  HTJ2KLosslessRPCL: '1.2.840.10008.1.2.4.202',
  HTJ2K: '1.2.840.10008.1.2.4.203',
  RLELossless: '1.2.840.10008.1.2.5',
  DeflatedImageFrameCompression: '1.2.840.10008.1.2.8.1',
} as const;

/** How the data set after the meta header is encoded: what a parser needs to walk it. */
export interface DatasetEncoding {
  explicitVr: boolean;
  littleEndian: boolean;
  /** The data set is a raw deflate stream (RFC 1951) of an explicit VR little endian data set. */
  deflated: boolean;
}

/** The transfer syntaxes whose Pixel Data is not encapsulated (native), so not "compressed". */
const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.JPIPReferenced,
  TransferSyntax.JPIPReferencedDeflate,
]);

/**
 * Private transfer syntaxes known to use an encoding we cannot walk. GE's "implicit VR big
 * endian" is the one still met in old archives; everything else not listed in PS3.5 uses explicit
 * VR little endian for the data set (PS3.5 section 10), so unknown UIDs are walked as that.
 */
const UNSUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(['1.2.840.113619.5.2']);

/** The data set encoding of a transfer syntax, or `unsupported-transfer-syntax`. */
export function datasetEncoding(transferSyntaxUid: string): DatasetEncoding {
  if (!isValidUid(transferSyntaxUid) || UNSUPPORTED_TRANSFER_SYNTAXES.has(transferSyntaxUid)) {
    throw new DicomFormatError(
      'unsupported-transfer-syntax',
      'the transfer syntax UID is not one Strata can read',
    );
  }
  switch (transferSyntaxUid) {
    case TransferSyntax.ImplicitVRLittleEndian:
      return { explicitVr: false, littleEndian: true, deflated: false };
    case TransferSyntax.ExplicitVRBigEndian:
      return { explicitVr: true, littleEndian: false, deflated: false };
    case TransferSyntax.DeflatedExplicitVRLittleEndian:
    case TransferSyntax.JPIPReferencedDeflate:
      return { explicitVr: true, littleEndian: true, deflated: true };
    default:
      return { explicitVr: true, littleEndian: true, deflated: false };
  }
}

/** True when Pixel Data under this transfer syntax is encapsulated (fragments, compressed). */
export function isEncapsulatedTransferSyntax(transferSyntaxUid: string): boolean {
  return !NATIVE_TRANSFER_SYNTAXES.has(transferSyntaxUid);
}

/** Root of the Storage SOP classes of PS3.4 Annex B (CT, MR, SR, RT, ...): nearly all of them. */
const STORAGE_ROOT = '1.2.840.10008.5.1.4.1.1.';

/**
 * The standard Storage SOP classes outside that root (PS3.4 Table B.5-1, cross-checked against
 * dcmtk's dcuid.h): RT delivery instructions, hanging protocols, color palettes, implant
 * templates, and three retired print storage classes still found in old archives. The query and
 * retrieve classes that share their parent arcs (…38.2, …39.2, …43.2 and so on) are not storage.
 */
const STORAGE_OUTSIDE_ROOT: ReadonlySet<string> = new Set([
  '1.2.840.10008.5.1.1.27', // Stored Print Storage (retired)
  '1.2.840.10008.5.1.1.29', // Hardcopy Grayscale Image Storage (retired)
  '1.2.840.10008.5.1.1.30', // Hardcopy Color Image Storage (retired)
  '1.2.840.10008.5.1.4.34.7', // RT Beams Delivery Instruction Storage
  '1.2.840.10008.5.1.4.34.10', // RT Brachy Application Setup Delivery Instruction Storage
  '1.2.840.10008.5.1.4.38.1', // Hanging Protocol Storage
  '1.2.840.10008.5.1.4.39.1', // Color Palette Storage
  '1.2.840.10008.5.1.4.43.1', // Generic Implant Template Storage
  '1.2.840.10008.5.1.4.44.1', // Implant Assembly Template Storage
  '1.2.840.10008.5.1.4.45.1', // Implant Template Group Storage
]);

/**
 * True for standard Storage SOP Class UIDs. Private (vendor) storage classes return false: whether
 * to accept them is the ingestion policy's decision, not a property of the UID.
 */
export function isStorageSopClass(uid: string): boolean {
  if (!isValidUid(uid)) return false;
  return uid.startsWith(STORAGE_ROOT) || STORAGE_OUTSIDE_ROOT.has(uid);
}

/** A UID component: "0", or digits without a leading zero (PS3.5 section 9.1). */
const UID_COMPONENT = /^(0|[1-9][0-9]*)$/;

/** PS3.5 section 9.1: at most 64 characters, dot-separated numeric components, no leading zeros. */
export function isValidUid(s: string): boolean {
  if (s.length === 0 || s.length > 64) return false;
  for (const component of s.split('.')) {
    if (!UID_COMPONENT.test(component)) return false;
  }
  return true;
}

/** VRs whose explicit VR element header has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
export const LONG_VRS: ReadonlySet<string> = new Set(
  'OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '),
);
