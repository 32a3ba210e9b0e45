import { randomUUID } from 'node:crypto';
import { type Readable, type Writable } from 'node:stream';
import { pump, writeChunk } from './stream-writing.js';

/**
 * Writes a multipart/related body (RFC 2387, PS3.18 8.7.3) part by part, streaming each part's
 * body. The boundary is random (a UUID), so it cannot occur in the data by more than chance.
 */
export class MultipartWriter {
  readonly boundary = `strata-${randomUUID()}`;
  private parts = 0;

  constructor(private readonly out: Writable) {}

  /** The response Content-Type for parts of `type`. */
  contentType(type: string): string {
    return `multipart/related; type="${type}"; boundary=${this.boundary}`;
  }

  /** Writes a part: its headers, then each body piece in turn (buffers or streams). */
  async part(headers: Record<string, string>, ...body: Array<Buffer | Readable>): Promise<void> {
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    await writeChunk(
      this.out,
      `${this.parts === 0 ? '' : '\r\n'}--${this.boundary}\r\n${head}\r\n`,
    );
    this.parts++;
    for (const piece of body) {
      if (Buffer.isBuffer(piece)) await writeChunk(this.out, piece);
      else await pump(piece, this.out);
    }
  }

  /** The closing delimiter. */
  async end(): Promise<void> {
    await writeChunk(this.out, `\r\n--${this.boundary}--\r\n`);
  }
}
