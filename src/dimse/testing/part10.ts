// Test helper: writes minimal DICOM Part 10 files (Explicit VR Little Endian) so the interop tests
// need no fixtures and no DICOM library. Not part of the dimse public surface.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

export interface Part10Spec {
  sopInstanceUid: string;
  sopClassUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  patientId?: string;
  modality?: string;
  /** Length of the PixelData (OW) value; rounded up to even. */
  pixelBytes: number;
  /** Varies the pixel pattern between files. */
  seed?: number;
}

/** Long-VR element header (OB, OW, ...): tag, VR, 2 reserved bytes, 4-byte length. */
function longElement(group: number, element: number, vr: string, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt32LE(length, 8);
  return b;
}

function shortElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt16LE(value.length, 6);
  return Buffer.concat([b, value]);
}

function text(value: string, pad: number): Buffer {
  const raw = Buffer.from(value, 'latin1');
  return raw.length % 2 === 0 ? raw : Buffer.concat([raw, Buffer.from([pad])]);
}

const ui = (g: number, e: number, v: string): Buffer => shortElement(g, e, 'UI', text(v, 0));
const str = (g: number, e: number, vr: string, v: string): Buffer =>
  shortElement(g, e, vr, text(v, 0x20));

/** Bytes of the dataset before the pixel data value, plus the file meta group (with preamble). */
export function part10Headers(spec: Part10Spec): {
  meta: Buffer;
  datasetHead: Buffer;
  pixelLength: number;
} {
  const sopClass = spec.sopClassUid ?? CT_IMAGE_STORAGE;
  const pixelLength = spec.pixelBytes + (spec.pixelBytes % 2);
  const metaElements = Buffer.concat([
    Buffer.concat([longElement(0x0002, 0x0001, 'OB', 2), Buffer.from([0, 1])]),
    ui(0x0002, 0x0002, sopClass),
    ui(0x0002, 0x0003, spec.sopInstanceUid),
    ui(0x0002, 0x0010, EXPLICIT_VR_LITTLE_ENDIAN),
    ui(0x0002, 0x0012, '1.2.826.0.1.3680043.10.1461.99'),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaElements.length, 0);
  const meta = Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    shortElement(0x0002, 0x0000, 'UL', groupLength),
    metaElements,
  ]);
  const datasetHead = Buffer.concat([
    ui(0x0008, 0x0016, sopClass),
    ui(0x0008, 0x0018, spec.sopInstanceUid),
    str(0x0008, 0x0060, 'CS', spec.modality ?? 'CT'),
    str(0x0010, 0x0020, 'LO', spec.patientId ?? 'TEST-PATIENT'),
    ui(0x0020, 0x000d, spec.studyInstanceUid ?? '1.2.826.0.1.3680043.10.1461.99.1'),
    ui(0x0020, 0x000e, spec.seriesInstanceUid ?? '1.2.826.0.1.3680043.10.1461.99.2'),
    longElement(0x7fe0, 0x0010, 'OW', pixelLength),
  ]);
  return { meta, datasetHead, pixelLength };
}

/** A deterministic pixel pattern block; files repeat it, so big files cost no big buffers. */
export function pixelPattern(seed: number, length = 1024 * 1024): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return b;
}

/** Builds a small Part 10 file in memory: the whole file and its dataset (after the meta group). */
export function part10InMemory(spec: Part10Spec): { file: Buffer; dataset: Buffer } {
  const { meta, datasetHead, pixelLength } = part10Headers(spec);
  const dataset = Buffer.concat([datasetHead, pixelPattern(spec.seed ?? 0, pixelLength)]);
  return { file: Buffer.concat([meta, dataset]), dataset };
}

/**
 * Writes a Part 10 file of any size in bounded memory; returns the SHA-256 and length of its
 * dataset (everything after the meta group), i.e. what a C-STORE SCP should receive.
 */
export async function writePart10File(
  path: string,
  spec: Part10Spec,
): Promise<{ sha256: string; length: number }> {
  const { meta, datasetHead, pixelLength } = part10Headers(spec);
  const pattern = pixelPattern(spec.seed ?? 0);
  const hash = createHash('sha256').update(datasetHead);
  const fh = await open(path, 'w');
  try {
    await fh.write(meta);
    await fh.write(datasetHead);
    for (let left = pixelLength; left > 0;) {
      const piece = left >= pattern.length ? pattern : pattern.subarray(0, left);
      hash.update(piece);
      await fh.write(piece);
      left -= piece.length;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), length: datasetHead.length + pixelLength };
}

/** The data set of a Part 10 file: what follows the preamble, "DICM" and the meta group. */
export function part10Dataset(file: Buffer): Buffer {
  if (file.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a Part 10 file');
  // (0002,0000) UL, explicit VR: 8-byte header, 4-byte value = length of the rest of the group.
  const groupLength = file.readUInt32LE(132 + 8);
  return file.subarray(132 + 12 + groupLength);
}
