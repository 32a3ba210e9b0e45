/**
 * A minimal DICOM Part 10 writer for the benchmark datasets: Explicit VR Little Endian only, flat
 * datasets (no sequences), pixel data appended as one OW element. Deliberately independent of
 * src/ so that the benchmark never measures Strata with Strata's own encoder.
 */

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const IMPLEMENTATION_CLASS_UID = '2.25.270588297541326880591284375162384227271';
const IMPLEMENTATION_VERSION_NAME = 'STRATA_BENCH_1';

type Vr =
  | 'AE'
  | 'AS'
  | 'CS'
  | 'DA'
  | 'DS'
  | 'IS'
  | 'LO'
  | 'PN'
  | 'SH'
  | 'TM'
  | 'UI'
  | 'US'
  | 'UL'
  | 'OB'
  | 'OW';

export type Value = string | readonly string[] | number | readonly number[] | Buffer;

export interface Element {
  /** (group << 16) | element */
  tag: number;
  vr: Vr;
  value: Value;
}

/** VRs with a 2-byte reserved field and a 4-byte length in Explicit VR encoding. */
const LONG_VRS = new Set<Vr>(['OB', 'OW']);

export function tag(group: number, element: number): number {
  return ((group << 16) | element) >>> 0;
}

function encodeValue(vr: Vr, value: Value): Buffer {
  if (Buffer.isBuffer(value)) {
    return value.length % 2 === 0 ? value : Buffer.concat([value, Buffer.alloc(1)]);
  }
  if (vr === 'US' || vr === 'UL') {
    const numbers = (Array.isArray(value) ? value : [value]) as number[];
    const width = vr === 'US' ? 2 : 4;
    const out = Buffer.alloc(numbers.length * width);
    numbers.forEach((n, i) => {
      if (vr === 'US') out.writeUInt16LE(n, i * 2);
      else out.writeUInt32LE(n, i * 4);
    });
    return out;
  }
  const parts = (Array.isArray(value) ? value : [value]).map(String);
  let text = parts.join('\\');
  if (text.length % 2 === 1) text += vr === 'UI' ? '\0' : ' ';
  return Buffer.from(text, 'latin1');
}

function encodeHeader(t: number, vr: Vr, length: number): Buffer {
  const long = LONG_VRS.has(vr);
  const header = Buffer.alloc(long ? 12 : 8);
  header.writeUInt16LE(t >>> 16, 0);
  header.writeUInt16LE(t & 0xffff, 2);
  header.write(vr, 4, 'latin1');
  if (long) {
    header.writeUInt32LE(length, 8);
  } else {
    if (length > 0xffff) throw new Error(`value of ${t.toString(16)} too long for VR ${vr}`);
    header.writeUInt16LE(length, 6);
  }
  return header;
}

function encodeElements(elements: readonly Element[]): Buffer {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  const chunks: Buffer[] = [];
  for (const e of sorted) {
    const value = encodeValue(e.vr, e.value);
    chunks.push(encodeHeader(e.tag, e.vr, value.length), value);
  }
  return Buffer.concat(chunks);
}

/**
 * Encodes a Part 10 file: 128-byte preamble, "DICM", the File Meta Information group and the
 * dataset, followed by the (even-length) pixel data as (7FE0,0010) OW. Returns the header and
 * the pixel data as separate buffers so that callers can write them without concatenating.
 */
export function encodePart10(
  sopClassUid: string,
  sopInstanceUid: string,
  dataset: readonly Element[],
  pixelData: Buffer,
): Buffer[] {
  if (pixelData.length % 2 !== 0) throw new Error('pixel data must have an even length');
  const metaBody = encodeElements([
    { tag: tag(0x0002, 0x0001), vr: 'OB', value: Buffer.from([0, 1]) },
    { tag: tag(0x0002, 0x0002), vr: 'UI', value: sopClassUid },
    { tag: tag(0x0002, 0x0003), vr: 'UI', value: sopInstanceUid },
    { tag: tag(0x0002, 0x0010), vr: 'UI', value: EXPLICIT_VR_LITTLE_ENDIAN },
    { tag: tag(0x0002, 0x0012), vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
    { tag: tag(0x0002, 0x0013), vr: 'SH', value: IMPLEMENTATION_VERSION_NAME },
  ]);
  const groupLength = encodeElements([
    { tag: tag(0x0002, 0x0000), vr: 'UL', value: metaBody.length },
  ]);
  const body = encodeElements(dataset.filter((e) => e.tag >>> 16 !== 0x0002));
  const pixelHeader = encodeHeader(tag(0x7fe0, 0x0010), 'OW', pixelData.length);
  const head = Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    groupLength,
    metaBody,
    body,
    pixelHeader,
  ]);
  return [head, pixelData];
}
