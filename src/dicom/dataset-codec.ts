import dcmjs from 'dcmjs';
import zlib from 'node:zlib';
import { type DicomJsonDataset } from './decode-dataset.js';
import { DicomFormatError } from './errors.js';
import { decodeWithCharset } from './parse-header.js';
import { datasetEncoding } from './uids.js';

/**
 * Small data sets exchanged in DIMSE messages (Storage Commitment requests and reports, query
 * identifiers): decoded from and encoded to the presentation context's transfer syntax.
 */

/** Decodes a whole data set (not a stored object's header) to DICOM JSON. */
export function decodeDataSet(bytes: Buffer, transferSyntaxUid: string): DicomJsonDataset {
  const encoding = datasetEncoding(transferSyntaxUid);
  const plain = encoding.deflated ? inflate(bytes) : bytes;
  return decodeWithCharset(plain, { ...encoding, deflated: false }).metadata;
}

/**
 * Encodes DICOM JSON (PS3.18 F.2: PN as {Alphabetic}, SQ items as nested objects) in a transfer
 * syntax, elements in tag order. Text is written as UTF-8: give (0008,0005) ISO_IR 192 when a
 * value is not plain ASCII.
 */
export function encodeDataSet(dataset: DicomJsonDataset, transferSyntaxUid: string): Buffer {
  const encoding = datasetEncoding(transferSyntaxUid);
  const stream = new dcmjs.data.WriteBufferStream(4096, encoding.littleEndian);
  dcmjs.data.DicomMessage.write(
    toDcmjs(dataset),
    stream,
    encoding.explicitVr
      ? encoding.littleEndian
        ? '1.2.840.10008.1.2.1'
        : '1.2.840.10008.1.2.2'
      : '1.2.840.10008.1.2',
    {},
  );
  const out = Buffer.from(stream.getBuffer());
  if (!encoding.deflated) return out;
  // A deflated data set is padded to an even length (PS3.5 A.5).
  const deflated = zlib.deflateRawSync(out);
  return deflated.length % 2 === 0 ? deflated : Buffer.concat([deflated, Buffer.alloc(1)]);
}

/** dcmjs's dictionary format: like DICOM JSON, with sequences as arrays of datasets. */
function toDcmjs(dataset: DicomJsonDataset): Record<string, { vr: string; Value: unknown[] }> {
  const out: Record<string, { vr: string; Value: unknown[] }> = {};
  for (const [tag, el] of Object.entries(dataset)) {
    const values = el.Value ?? [];
    out[tag] = {
      vr: el.vr,
      Value:
        el.vr === 'SQ'
          ? values.map((item) => toDcmjs(item as DicomJsonDataset))
          : values.map((v) => (v === null ? '' : v)),
    };
  }
  return out;
}

function inflate(bytes: Buffer): Buffer {
  try {
    return zlib.inflateRawSync(bytes, { maxOutputLength: 16 * 1024 * 1024 });
  } catch {
    throw new DicomFormatError('malformed', 'the deflated data set could not be inflated');
  }
}
