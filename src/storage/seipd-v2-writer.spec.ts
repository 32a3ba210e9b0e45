import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSeipdV2Decryptor } from './seipd-v2-reader.js';
import {
  DEFAULT_CHUNK_SIZE_BYTE,
  SeipdV2Sealer,
  createSeipdV2Encryptor,
} from './seipd-v2-writer.js';

const AEAD = { aeadProtect: true } as const;
const CHUNK = 2 ** (DEFAULT_CHUNK_SIZE_BYTE + 6);
const MiB = 1024 * 1024;

interface Fixture {
  privateKey: openpgp.PrivateKey;
  sk: { data: Uint8Array; algorithm: 'aes256'; aeadAlgorithm: 'gcm' };
  pkesk: Uint8Array;
}

async function fixture(): Promise<Fixture> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name: 't' }],
    format: 'object',
    config: AEAD,
  });
  const generated = await openpgp.generateSessionKey({ encryptionKeys: publicKey, config: AEAD });
  expect(generated.algorithm).toBe('aes256');
  expect(generated.aeadAlgorithm).toBe('gcm');
  const sk = { data: generated.data, algorithm: 'aes256', aeadAlgorithm: 'gcm' } as const;
  const pkesk = await openpgp.encryptSessionKey({
    ...sk,
    encryptionKeys: publicKey,
    format: 'binary',
    config: AEAD,
  });
  return { privateKey, sk, pkesk };
}

/** Runs `pieces` through `transform` and collects the output. */
async function run(
  transform: NodeJS.ReadWriteStream,
  pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces, { objectMode: false }),
    transform,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Cuts `buf` into pieces of irregular sizes. */
function* oddPieces(buf: Buffer): Generator<Buffer> {
  const sizes = [1, 7, 511, 4093, 65_537, 262_143, 3, 1_048_583, 262_145];
  let offset = 0;
  for (let i = 0; offset < buf.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield buf.subarray(offset, offset + n);
    offset += n;
  }
}

const encryptOurs = (key: Uint8Array, plain: Buffer, pieces?: Iterable<Buffer>) =>
  run(createSeipdV2Encryptor(key), pieces ?? (plain.length ? [plain] : []));

async function decryptWithOpenpgp(
  f: Fixture,
  binaryMessage: Uint8Array,
  withPrivateKey = false,
): Promise<Buffer> {
  const message = await openpgp.readMessage({ binaryMessage });
  const { data } = await openpgp.decrypt({
    message,
    ...(withPrivateKey ? { decryptionKeys: f.privateKey } : { sessionKeys: f.sk }),
    format: 'binary',
    config: AEAD,
  });
  return Buffer.from(data);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('createSeipdV2Encryptor', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture();
  });

  const sizes: [string, number][] = [
    ['0', 0],
    ['1', 1],
    ['511', 511],
    ['512', 512],
    ['4096', 4096],
    ['chunk - 1', CHUNK - 1],
    ['chunk', CHUNK],
    ['chunk + 1', CHUNK + 1],
    ['3 × chunk', 3 * CHUNK],
    ['5 MiB + 17', 5 * MiB + 17],
  ];

  it.each(sizes)('openpgp.js decrypts %s bytes (session key and PKESK)', async (_name, size) => {
    const plain = randomBytes(size);
    const ours = await encryptOurs(f.sk.data, plain);
    expect(ours[0]).toBe(0xd2);
    expect(sha(await decryptWithOpenpgp(f, ours))).toBe(sha(plain));
    const withPkesk = Buffer.concat([f.pkesk, ours]);
    expect(sha(await decryptWithOpenpgp(f, withPkesk, true))).toBe(sha(plain));
    expect(sha(await run(createSeipdV2Decryptor(f.sk.data), [ours]))).toBe(sha(plain));
  });

  it('streams 64 MiB fed in odd-sized pieces', { timeout: 120_000 }, async () => {
    const plain = randomBytes(64 * MiB);
    const ours = await encryptOurs(f.sk.data, plain, oddPieces(plain));
    expect(sha(await decryptWithOpenpgp(f, ours))).toBe(sha(plain));
    expect(sha(await decryptWithOpenpgp(f, Buffer.concat([f.pkesk, ours]), true))).toBe(sha(plain));
    expect(sha(await run(createSeipdV2Decryptor(f.sk.data), oddPieces(ours)))).toBe(sha(plain));
  });

  it('writes the RFC 9580 header fields and a first partial length of at least 512', async () => {
    const ours = await encryptOurs(f.sk.data, randomBytes(3 * CHUNK));
    expect(ours[0]).toBe(0xd2); // new format, tag 18
    expect(ours[1]! & 0xe0).toBe(0xe0); // partial body length…
    expect(2 ** (ours[1]! & 0x1f)).toBeGreaterThanOrEqual(512); // …of at least 512 octets
    expect([...ours.subarray(2, 6)]).toEqual([2, 9, 3, DEFAULT_CHUNK_SIZE_BYTE]);
    const small = await encryptOurs(f.sk.data, Buffer.from('x'));
    // 36 header bytes + (literal packet: tag, length, 'b', 0, date[4], 'x' + 16-byte tag) + final
    // tag, framed with a single normal length
    expect(small.length).toBe(2 + 36 + 9 + 16 + 16);
    expect(small[1]).toBe(36 + 9 + 16 + 16);
  });

  it('supports other chunk sizes', async () => {
    for (const chunkSizeByte of [0, 1, 4, 16]) {
      const plain = randomBytes(300_000); // > one 256 KiB part: partial lengths
      const ours = await run(createSeipdV2Encryptor(f.sk.data, { chunkSizeByte }), [plain]);
      expect(ours[5]).toBe(chunkSizeByte);
      expect(sha(await decryptWithOpenpgp(f, ours))).toBe(sha(plain));
    }
  });

  it('uses a fresh salt for every object and rejects bad parameters', async () => {
    const a = await encryptOurs(f.sk.data, Buffer.from('same'));
    const b = await encryptOurs(f.sk.data, Buffer.from('same'));
    expect(a.subarray(6, 38).equals(b.subarray(6, 38))).toBe(false);
    expect(() => createSeipdV2Encryptor(new Uint8Array(16))).toThrow(/32-byte/);
    expect(() => createSeipdV2Encryptor(f.sk.data, { chunkSizeByte: 17 })).toThrow(/chunk size/);
  });

  it('SeipdV2Sealer (the push-style core the ingest path calls) writes the same format', async () => {
    const plain = randomBytes(700_000);
    const sealer = new SeipdV2Sealer(f.sk.data);
    const out: Buffer[] = [];
    for (const piece of oddPieces(plain)) out.push(...sealer.update(piece));
    // Ciphertext comes out while the plaintext goes in, not all at the end.
    expect(out.length).toBeGreaterThan(0);
    out.push(...sealer.final());
    expect(sha(await decryptWithOpenpgp(f, Buffer.concat(out)))).toBe(sha(plain));
    const empty = new SeipdV2Sealer(f.sk.data).final();
    expect((await decryptWithOpenpgp(f, Buffer.concat(empty))).length).toBe(0);
  });
});
