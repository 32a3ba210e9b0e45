import { datasetEncoding, LONG_VRS } from './uids.js';

const STUDY_UID_TAG = 0x0020000d;

/**
 * Finds the Study Instance UID in a captured header by a cheap walk of the top-level elements, so
 * that encryption (which needs the study's session key) can start while the full parse runs in its
 * worker. Returns null whenever it is not sure (an undefined-length element before the UID, deflated
 * or unknown encodings, odd structure): the caller then waits for the parse. Never trusted alone:
 * the parsed header must agree, or the object is discarded.
 */
export function peekStudyInstanceUid(header: Buffer, transferSyntaxUid: string): string | null {
  let encoding;
  try {
    encoding = datasetEncoding(transferSyntaxUid);
  } catch {
    return null;
  }
  if (encoding.deflated) return null;
  const le = encoding.littleEndian;
  const u16 = (o: number) => (le ? header.readUInt16LE(o) : header.readUInt16BE(o));
  const u32 = (o: number) => (le ? header.readUInt32LE(o) : header.readUInt32BE(o));
  let p = 0;
  while (p + 8 <= header.length) {
    const tag = ((u16(p) << 16) | u16(p + 2)) >>> 0;
    if (tag > STUDY_UID_TAG) return null; // top-level elements are in ascending order
    let length: number;
    let valueAt: number;
    if (encoding.explicitVr) {
      const vr = header.toString('latin1', p + 4, p + 6);
      if (LONG_VRS.has(vr)) {
        if (p + 12 > header.length) return null;
        length = u32(p + 8);
        valueAt = p + 12;
      } else {
        length = u16(p + 6);
        valueAt = p + 8;
      }
    } else {
      length = u32(p + 4);
      valueAt = p + 8;
    }
    if (length === 0xffffffff || valueAt + length > header.length) return null;
    if (tag === STUDY_UID_TAG) {
      const uid = header.toString('latin1', valueAt, valueAt + length).replace(/[\0 ]+$/, '');
      return /^[0-9.]{1,64}$/.test(uid) ? uid : null;
    }
    p = valueAt + length;
  }
  return null;
}
