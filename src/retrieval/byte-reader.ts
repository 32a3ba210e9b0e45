import { type Readable } from 'node:stream';

/**
 * Sequential reads over a stream: skip, peek a few bytes, then hand on an exact number of bytes.
 * Pulls from the stream only as fast as the consumer takes (backpressure is preserved).
 */
export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private head: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(private readonly source: Readable) {
    this.it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.it.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.head = this.head.length === 0 ? next.value : Buffer.concat([this.head, next.value]);
    return true;
  }

  /** Discards `n` bytes; throws if the stream ends first. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.head.length === 0 && !(await this.more()))
        throw new Error('the stored object ended early');
      const take = Math.min(left, this.head.length);
      this.head = this.head.subarray(take);
      left -= take;
    }
  }

  /** Up to `n` bytes without consuming them (fewer only at the end of the stream). */
  async peek(n: number): Promise<Buffer> {
    while (this.head.length < n && (await this.more()));
    return this.head.subarray(0, n);
  }

  /** Exactly `n` bytes, chunk by chunk; throws if the stream ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.head.length === 0 && !(await this.more()))
        throw new Error('the stored object ended early');
      const piece = this.head.subarray(0, Math.min(left, this.head.length));
      this.head = this.head.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  close(): void {
    if (!this.source.destroyed) this.source.destroy();
  }
}
