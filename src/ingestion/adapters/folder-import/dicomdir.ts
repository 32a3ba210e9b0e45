import { finished } from 'node:stream/promises';
import { decodeDataSet, type DicomJsonDataset, Part10Splitter } from '../../../dicom/index.js';

/** A file of this name is a media directory (PS3.10 8.6), not an instance: never ingested. */
export function isDicomdirName(name: string): boolean {
  return /^DICOMDIR(;1)?$/i.test(name);
}

const DIRECTORY_RECORD_SEQUENCE = '00041220';
const REFERENCED_FILE_ID = '00041500';

/**
 * The files a DICOMDIR references: the Referenced File ID (0004,1500) of each directory record,
 * as path components relative to the DICOMDIR's folder (PS3.10 8.5: at most 8 components, no
 * separators). Throws DicomFormatError when the DICOMDIR cannot be read.
 */
export async function referencedFiles(dicomdir: Buffer): Promise<string[][]> {
  const splitter = new Part10Splitter();
  const parts: Buffer[] = [];
  splitter.on('data', (chunk: Buffer) => parts.push(chunk));
  const done = finished(splitter);
  splitter.end(dicomdir);
  await done;
  const meta = await splitter.meta;
  const dataset = decodeDataSet(Buffer.concat(parts), meta.transferSyntaxUid);
  const records = dataset[DIRECTORY_RECORD_SEQUENCE]?.Value ?? [];
  const files: string[][] = [];
  for (const record of records as DicomJsonDataset[]) {
    const id = record[REFERENCED_FILE_ID]?.Value;
    if (id && id.length > 0) files.push(id.map((c) => String(c).trim()));
  }
  return files;
}
