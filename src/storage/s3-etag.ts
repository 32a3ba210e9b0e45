import { createHash, type Hash } from 'node:crypto';

/**
 * The ETag S3 gives an object it stored as sent (no SSE-KMS/SSE-C): the MD5 of the bytes for a
 * single PUT, or for a multipart upload the MD5 of the parts' MD5s followed by "-<parts>" (or,
 * from some S3-compatible servers, the MD5 of the whole object). Fed the
 * bytes as they are sent, it tells whether the server's ETag proves that it stored exactly those
 * bytes, so a copy need not be read back to be verified. Any other ETag (encryption with KMS,
 * another part size, a server that does not use MD5) just does not match: the caller then verifies
 * by reading back.
 */
export class S3EtagCalculator {
  private part: Hash = createHash('md5');
  /**
   * The whole object's MD5, kept from the first part boundary on (some S3-compatible servers,
   * s3rver among them, answer it for multipart uploads too): a single-part object is hashed once.
   */
  private whole: Hash | null = null;
  private inPart = 0;
  private readonly parts: Buffer[] = [];

  constructor(private readonly partSize: number) {}

  /** One MD5 pass: per part (a single PUT's ETag is its only part's MD5). */
  update(bytes: Buffer): void {
    for (let offset = 0; offset < bytes.length;) {
      const n = Math.min(bytes.length - offset, this.partSize - this.inPart);
      const piece = bytes.subarray(offset, offset + n);
      this.part.update(piece);
      this.whole?.update(piece);
      this.inPart += n;
      offset += n;
      if (this.inPart === this.partSize) {
        this.whole ??= this.part.copy();
        this.parts.push(this.part.digest());
        this.part = createHash('md5');
        this.inPart = 0;
      }
    }
  }

  /** Whether `etag`, as the server answered it (quoted or not), is the one for the bytes seen. */
  matches(etag: string | undefined): boolean {
    if (!etag) return false;
    const e = etag.replace(/"/g, '').toLowerCase();
    const digests =
      this.inPart > 0 || this.parts.length === 0
        ? [...this.parts, this.part.copy().digest()]
        : this.parts;
    if (digests.length === 1 && e === digests[0]!.toString('hex')) return true;
    if (this.whole && e === this.whole.copy().digest('hex')) return true;
    const m = /^([0-9a-f]{32})-(\d+)$/.exec(e);
    if (!m) return false;
    return (
      Number(m[2]) === digests.length &&
      createHash('md5').update(Buffer.concat(digests)).digest('hex') === m[1]
    );
  }
}
