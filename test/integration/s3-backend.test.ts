import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackends, S3Backend } from '../../src/storage/index.js';
import { startFaultyProxy } from '../support/faulty-proxy.js';
import { createTestBucket, s3BackendConfig } from '../support/s3.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('S3 backend against s3rver', () => {
  let bucket: string;
  let backend: S3Backend;
  beforeAll(async () => {
    bucket = await createTestBucket();
    backend = new S3Backend('archive', s3BackendConfig(bucket, { prefix: 'strata/' }));
    await backend.init();
  });
  afterAll(() => backend.close());

  it('puts a stream, gets it whole and by range, heads, lists and deletes it', async () => {
    const data = randomBytes(100_000);
    const { size } = await backend.put(
      'abc/one.pgp',
      Readable.from([data.subarray(0, 10), data.subarray(10)]),
    );
    expect(size).toBe(data.length);
    expect((await readAll(await backend.get('abc/one.pgp'))).equals(data)).toBe(true);
    const range = await readAll(await backend.get('abc/one.pgp', { start: 1000, end: 1999 }));
    expect(range.equals(data.subarray(1000, 2000))).toBe(true);
    const tail = await readAll(await backend.get('abc/one.pgp', { start: 99_990 }));
    expect(tail.equals(data.subarray(99_990))).toBe(true);
    expect((await backend.head('abc/one.pgp'))?.size).toBe(data.length);
    const listed = [];
    for await (const o of backend.list()) listed.push(o);
    expect(listed.map((o) => [o.key, o.size])).toContainEqual(['abc/one.pgp', data.length]);
    await backend.delete('abc/one.pgp');
    expect(await backend.head('abc/one.pgp')).toBeNull();
    await backend.delete('abc/one.pgp'); // deleting what is gone is not an error
  });

  it('uploads large objects in parts, streaming, with the tier storage class', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 123); // three 5 MiB parts
    const writer = backend.openWriter(undefined, { storageClass: 'STANDARD_IA' });
    expect(writer.key).toMatch(/^[0-9a-f]{3}\/[0-9a-f]{32}\.pgp$/);
    for (let o = 0; o < data.length; o += 1024 * 1024) {
      const wait = writer.write([data.subarray(o, o + 1024 * 1024)]);
      if (wait) await wait;
    }
    // s3rver answers the multipart ETag (MD5 of the part MD5s): the bytes are confirmed.
    expect(await writer.finish()).toEqual({
      size: data.length,
      confirmed: true,
      checksum: expect.stringMatching(/^[0-9a-f]{32}(-\d+)?$/),
    });
    const back = await readAll(await backend.get(writer.key));
    expect(back.equals(data)).toBe(true);
  });

  it('a missing object is ENOENT, like a file', async () => {
    await expect(backend.get('nope/missing.pgp')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await backend.head('nope/missing.pgp')).toBeNull();
  });

  it('an aborted writer leaves no object', async () => {
    const writer = backend.openWriter('abc/aborted.pgp');
    writer.write([randomBytes(1000)]);
    await writer.abort();
    expect(await backend.head('abc/aborted.pgp')).toBeNull();
  });

  it('retries with backoff on 503 SlowDown and 500, then succeeds', async () => {
    const proxy = await startFaultyProxy(s3BackendConfig(bucket).endpoint!, (req, n) =>
      req.method === 'PUT' && n <= 2
        ? { status: n === 1 ? 503 : 500, code: n === 1 ? 'SlowDown' : 'InternalError' }
        : null,
    );
    const flaky = new S3Backend(
      'flaky',
      s3BackendConfig(bucket, { endpoint: proxy.endpoint, prefix: 'strata/' }),
    );
    try {
      const data = randomBytes(5000);
      await flaky.put('abc/retried.pgp', Readable.from([data]));
      expect(proxy.requests()).toBeGreaterThanOrEqual(3);
      expect((await readAll(await backend.get('abc/retried.pgp'))).equals(data)).toBe(true);
    } finally {
      await flaky.close();
      await proxy.close();
    }
  });

  it('gives up after maxAttempts with a clear error, and a hung request times out', async () => {
    const proxy = await startFaultyProxy(s3BackendConfig(bucket).endpoint!, (req) =>
      req.url?.includes('always-503')
        ? { status: 503, code: 'SlowDown' }
        : req.url?.includes('hangs')
          ? 'hang'
          : null,
    );
    const flaky = new S3Backend(
      'flaky',
      s3BackendConfig(bucket, { endpoint: proxy.endpoint, maxAttempts: 2, requestTimeoutMs: 500 }),
    );
    try {
      await expect(flaky.get('abc/always-503.pgp')).rejects.toThrow(
        /backend 'flaky': read of abc\/always-503.pgp failed: SlowDown/,
      );
      const started = Date.now();
      await expect(flaky.get('abc/hangs.pgp')).rejects.toThrow(/backend 'flaky'/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await flaky.close();
      await proxy.close();
    }
  });
});

describe('backend registry', () => {
  const storage = (backends: Record<string, unknown>) =>
    ({
      backends,
      tiers: {
        hot: { backend: Object.keys(backends)[0]!, storageClass: null, restore: null },
        warm: { backend: Object.keys(backends)[0]!, storageClass: null, restore: null },
        cold: { backend: Object.keys(backends)[0]!, storageClass: null, restore: null },
      },
      orphanGraceMs: 0,
    }) as Parameters<typeof openBackends>[0];

  it('refuses a bucket that does not exist, naming the backend', async () => {
    await expect(
      openBackends(storage({ archive: s3BackendConfig('no-such-bucket-here') })),
    ).rejects.toThrow(
      /storage backend 'archive' \(s3 bucket no-such-bucket-here at http:\/\/127\.0\.0\.1:\d+\): the bucket does not exist/,
    );
  });

  it('refuses wrong credentials', async () => {
    const bucket = await createTestBucket();
    await expect(
      openBackends(
        storage({
          archive: s3BackendConfig(bucket, {
            credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' },
          }),
        }),
      ),
    ).rejects.toThrow(/storage backend 'archive' .*: access denied \(check the credentials\)/);
  });

  it('refuses an endpoint nothing listens on', async () => {
    const proxy = await startFaultyProxy('http://127.0.0.1:9', () => 'reset');
    await proxy.close(); // a port that was just free: connection refused
    await expect(
      openBackends(
        storage({
          archive: s3BackendConfig('x-bucket', { endpoint: proxy.endpoint, maxAttempts: 1 }),
        }),
      ),
    ).rejects.toThrow(/storage backend 'archive' .*: unreachable/);
  });

  it('refuses a filesystem root that cannot be made', async () => {
    // A regular file where a folder should be. (Not under /proc: Node's recursive mkdir loops there.)
    const file = join(mkdtempSync(join(tmpdir(), 'strata-registry-')), 'a-file');
    writeFileSync(file, 'x');
    const root = join(file, 'objects');
    await expect(
      openBackends(storage({ local: { type: 'filesystem', path: root } })),
    ).rejects.toThrow(
      /storage backend 'local' \(filesystem at .*a-file\/objects\): cannot be used: .*ENOTDIR/,
    );
  });
});
