import { type DatasetEncoding } from '../dicom/index.js';
import { type ByteReader } from './byte-reader.js';
import { type ElementHeader, readElementHeader } from './element-header.js';

/** A path to an element: a top-level tag, or sequence tag, item number (from 0), tag, ... */
export type ElementPath = ReadonlyArray<string | number>;

const ITEM = 'FFFEE000';
const ITEM_END = 'FFFEE00D';
const SEQUENCE_END = 'FFFEE0DD';
const IMPLICIT_LE: DatasetEncoding = { explicitVr: false, littleEndian: true, deflated: false };
/** Real data sets nest a handful of levels; this bounds the walk of hostile stored bytes. */
const MAX_DEPTH = 32;

class Walk {
  /** Bytes consumed so far: defined-length containers end at an absolute position. */
  pos = 0;

  constructor(private readonly reader: ByteReader) {}

  async header(encoding: DatasetEncoding): Promise<ElementHeader | null> {
    return readElementHeader(await this.reader.peek(12), encoding);
  }

  async skip(n: number): Promise<void> {
    await this.reader.skip(n);
    this.pos += n;
  }

  /** Skips the items of an undefined-length sequence (or pixel data fragments) and its delimiter. */
  async skipUndefined(encoding: DatasetEncoding, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new Error('the stored data set nests too deeply');
    for (;;) {
      const h = await this.header(encoding);
      if (!h) throw new Error('the stored data set ends inside a sequence');
      await this.skip(8);
      if (h.tag === SEQUENCE_END) return;
      if (h.tag !== ITEM)
        throw new Error('the stored data set has an unexpected element in a sequence');
      if (h.valueLength === null) await this.skipElements(encoding, null, depth + 1);
      else await this.skip(h.valueLength);
    }
  }

  /** Skips the elements of an undefined-length item, up to and including its delimiter. */
  private async skipElements(
    encoding: DatasetEncoding,
    end: number | null,
    depth: number,
  ): Promise<void> {
    await this.find([], encoding, end, depth);
  }

  /**
   * Walks the elements of a data set (or item) that ends at `end` (absolute), at an item
   * delimiter (`end` null, inside an undefined-length item) or at the end of the stream (top
   * level, `end` undefined). Returns the header of the element at `path`, the reader positioned
   * at that header; null when absent. An empty path just walks to the end.
   */
  async find(
    path: ElementPath,
    encoding: DatasetEncoding,
    end: number | null | undefined,
    depth: number,
  ): Promise<ElementHeader | null> {
    if (depth > MAX_DEPTH) throw new Error('the stored data set nests too deeply');
    for (;;) {
      if (typeof end === 'number' && this.pos >= end) return null;
      const h = await this.header(encoding);
      if (!h) {
        if (end === undefined) return null;
        throw new Error('the stored data set ends inside an item');
      }
      if (h.tag === ITEM_END) {
        await this.skip(8);
        return null;
      }
      const vr = encoding.explicitVr ? (await this.reader.peek(6)).toString('latin1', 4, 6) : null;
      if (path.length > 0 && h.tag === path[0]) {
        if (path.length === 1) return h;
        return this.descend(h, vr, path.slice(1), encoding, depth);
      }
      await this.skip(h.headerLength);
      if (h.valueLength !== null) await this.skip(h.valueLength);
      else await this.skipUndefined(vr === 'UN' ? IMPLICIT_LE : encoding, depth + 1);
    }
  }

  /** Into the sequence `h`, to item `path[0]`, then on to `path[1..]` inside it. */
  private async descend(
    h: ElementHeader,
    vr: string | null,
    path: ElementPath,
    encoding: DatasetEncoding,
    depth: number,
  ): Promise<ElementHeader | null> {
    const index = path[0];
    if (typeof index !== 'number') return null;
    // Only sequences have items to descend into (not, say, encapsulated pixel data fragments).
    if (encoding.explicitVr && vr !== 'SQ' && vr !== 'UN') return null;
    // An undefined-length UN is a sequence in implicit VR little endian (PS3.5 6.2.2).
    const inner = vr === 'UN' ? IMPLICIT_LE : encoding;
    await this.skip(h.headerLength);
    const sequenceEnd = h.valueLength === null ? null : this.pos + h.valueLength;
    for (let n = 0; ; n++) {
      if (sequenceEnd !== null && this.pos >= sequenceEnd) return null;
      const item = await this.header(inner);
      if (!item) return null;
      await this.skip(8);
      if (item.tag === SEQUENCE_END) return null;
      if (item.tag !== ITEM)
        throw new Error('the stored data set has an unexpected element in a sequence');
      const itemEnd = item.valueLength === null ? null : this.pos + item.valueLength;
      if (n === index) return this.find(path.slice(1), inner, itemEnd, depth + 1);
      if (itemEnd === null) await this.skipElements(inner, null, depth + 1);
      else await this.skip(item.valueLength!);
    }
  }
}

/**
 * Positions `reader` (at the start of a data set) on the header of the element at `path` and
 * returns that header, or null when the data set has no such element. Walks the structure
 * without keeping any of it: memory stays at one stream chunk.
 */
export function locateElement(
  reader: ByteReader,
  encoding: DatasetEncoding,
  path: ElementPath,
): Promise<ElementHeader | null> {
  return new Walk(reader).find(path, encoding, undefined, 0);
}
