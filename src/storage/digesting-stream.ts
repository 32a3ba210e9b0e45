import { createHmac, type Hmac } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through while computing HMAC-SHA256 under the archive's dedup secret and counting
 * them: the blob's identity is computed in the same pass that encrypts it.
 */
export class DigestingStream extends Transform {
  private readonly hmac: Hmac;
  size = 0;

  constructor(secret: Buffer) {
    super({ highWaterMark: 1 << 20 });
    this.hmac = createHmac('sha256', secret);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hmac.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): Buffer {
    return this.hmac.digest();
  }
}
