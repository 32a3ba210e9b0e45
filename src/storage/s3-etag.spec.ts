import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { S3EtagCalculator } from './s3-etag.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** The multipart ETag S3 computes: MD5 of the part MD5s, then "-" and the number of parts. */
function multipartEtag(data: Buffer, partSize: number): string {
  const parts: Buffer[] = [];
  for (let o = 0; o < data.length; o += partSize) parts.push(md5(data.subarray(o, o + partSize)));
  return `"${md5(Buffer.concat(parts)).toString('hex')}-${parts.length}"`;
}

/** Feeds `data` in uneven chunks, as a stream would. */
function fed(data: Buffer, partSize: number): S3EtagCalculator {
  const calc = new S3EtagCalculator(partSize);
  for (let o = 0, n = 1; o < data.length; o += n, n = (n * 7 + 3) % 5000 || 1) {
    calc.update(data.subarray(o, o + n));
  }
  return calc;
}

describe('S3EtagCalculator', () => {
  const data = randomBytes(100_003);

  it('matches the single-PUT ETag (quoted or not, any case)', () => {
    const calc = fed(data, 1 << 20);
    const hex = md5(data).toString('hex');
    expect(calc.matches(`"${hex}"`)).toBe(true);
    expect(calc.matches(hex.toUpperCase())).toBe(true);
  });

  it('matches the multipart ETag for the part size used, with chunks that straddle parts', () => {
    expect(fed(data, 16_384).matches(multipartEtag(data, 16_384))).toBe(true);
    // An exact multiple of the part size: no empty last part.
    const even = data.subarray(0, 16_384 * 4);
    expect(fed(even, 16_384).matches(multipartEtag(even, 16_384))).toBe(true);
  });

  it("matches a multipart upload's whole-object MD5, as s3rver answers it", () => {
    expect(fed(data, 16_384).matches(`"${md5(data).toString('hex')}"`)).toBe(true);
  });

  it('does not match other bytes, another part size, or an ETag that is not an MD5', () => {
    const other = Buffer.from(data);
    other[50_000]! ^= 1;
    expect(fed(other, 16_384).matches(multipartEtag(data, 16_384))).toBe(false);
    expect(fed(other, 1 << 20).matches(`"${md5(data).toString('hex')}"`)).toBe(false);
    expect(fed(data, 8_192).matches(multipartEtag(data, 16_384))).toBe(false);
    expect(fed(data, 16_384).matches('"kms-encrypted-etag"')).toBe(false);
    expect(fed(data, 16_384).matches(undefined)).toBe(false);
  });
});
