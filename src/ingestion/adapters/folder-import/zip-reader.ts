import { type Readable } from 'node:stream';
import yauzl from 'yauzl';

/**
 * Zip files through yauzl (maintained, no native code, Node ≥ 12): it reads the central directory
 * and streams each entry from its offset (inflating as it goes), so a zip of any size costs the
 * memory of one entry's chunks, and entry sizes are checked against the directory while reading.
 */

export interface ZipEntryInfo {
  /** Path inside the zip, '/'-separated. */
  name: string;
  size: number;
}

export interface ZipEntry extends ZipEntryInfo {
  /** The entry's uncompressed bytes; valid only until the iteration moves to the next entry. */
  open(): Promise<Readable>;
}

/** The files in a zip (folders left out), in the order of its central directory. */
export async function listZip(path: string): Promise<ZipEntryInfo[]> {
  const list: ZipEntryInfo[] = [];
  for await (const e of readZip(path)) list.push({ name: e.name, size: e.size });
  return list;
}

/** Iterates over a zip's files, with a stream for each on demand; closes the zip at the end. */
export async function* readZip(path: string): AsyncGenerator<ZipEntry> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      yield {
        name: entry.fileName,
        size: entry.uncompressedSize,
        open: () => zip.openReadStreamPromise(entry),
      };
    }
  } finally {
    zip.close();
  }
}
