import { type DatasetEncoding, LONG_VRS } from '../dicom/index.js';

export interface ElementHeader {
  /** 'GGGGEEEE', upper-case. */
  tag: string;
  headerLength: number;
  /** null: undefined length (encapsulated pixel data, or a sequence). */
  valueLength: number | null;
}

/**
 * Reads the data element header at the start of `bytes` (PS3.5 7.1): tag, then in explicit VR a
 * VR and a 16-bit length (or 2 reserved bytes and a 32-bit length for the long VRs), in implicit
 * VR a 32-bit length; items and delimiters always the latter. Null when `bytes` is too short to hold it.
 */
export function readElementHeader(bytes: Buffer, encoding: DatasetEncoding): ElementHeader | null {
  if (bytes.length < 8) return null;
  const le = encoding.littleEndian;
  const u16 = (at: number) => (le ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at));
  const u32 = (at: number) => (le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const tag = ((u16(0) * 0x10000 + u16(2)) >>> 0).toString(16).toUpperCase().padStart(8, '0');
  let headerLength = 8;
  let length: number;
  // Items and delimiters (group FFFE) have no VR in any transfer syntax (PS3.5 7.5).
  if (!encoding.explicitVr || tag.startsWith('FFFE')) length = u32(4);
  else if (LONG_VRS.has(bytes.toString('latin1', 4, 6))) {
    if (bytes.length < 12) return null;
    headerLength = 12;
    length = u32(8);
  } else length = u16(6);
  return { tag, headerLength, valueLength: length === 0xffffffff ? null : length };
}
