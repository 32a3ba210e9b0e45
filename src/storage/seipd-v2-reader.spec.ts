import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSeipdV2Decryptor } from './seipd-v2-reader.js';
import { DEFAULT_CHUNK_SIZE_BYTE, createSeipdV2Encryptor } from './seipd-v2-writer.js';

const AEAD = { aeadProtect: true } as const;
const CHUNK = 2 ** (DEFAULT_CHUNK_SIZE_BYTE + 6);

/** Runs `input` (in pieces of `piece` bytes) through `transform`; returns what came out, and the error. */
async function run(
  transform: NodeJS.ReadWriteStream,
  input: Buffer,
  piece = 65_536,
): Promise<{ out: Buffer; error: Error | null }> {
  const out: Buffer[] = [];
  const pieces: Buffer[] = [];
  for (let o = 0; o < input.length; o += piece) pieces.push(input.subarray(o, o + piece));
  let error: Error | null = null;
  try {
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
  } catch (err) {
    error = err as Error;
  }
  return { out: Buffer.concat(out), error };
}

describe('createSeipdV2Decryptor', () => {
  let sk: { data: Uint8Array; algorithm: 'aes256'; aeadAlgorithm: 'gcm' };
  let pkesk: Uint8Array;

  beforeAll(async () => {
    const { publicKey } = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 't' }],
      format: 'object',
      config: AEAD,
    });
    const generated = await openpgp.generateSessionKey({ encryptionKeys: publicKey, config: AEAD });
    sk = { data: generated.data, algorithm: 'aes256', aeadAlgorithm: 'gcm' };
    pkesk = await openpgp.encryptSessionKey({
      ...sk,
      encryptionKeys: publicKey,
      format: 'binary',
      config: AEAD,
    });
  });

  async function openpgpEncrypt(plain: Buffer, streamed: boolean): Promise<Buffer> {
    const message = await openpgp.createMessage({
      binary: streamed
        ? (Readable.toWeb(
            Readable.from([plain.subarray(0, 1000), plain.subarray(1000)], {
              objectMode: false,
            }),
          ) as unknown as ReadableStream<Uint8Array>)
        : plain,
      format: 'binary',
    });
    const encrypted = await openpgp.encrypt({
      message,
      sessionKey: sk,
      format: 'binary',
      config: AEAD,
    });
    if (encrypted instanceof Uint8Array) return Buffer.from(encrypted);
    const parts: Buffer[] = [];
    for await (const p of Readable.fromWeb(
      encrypted as unknown as import('node:stream/web').ReadableStream,
    ))
      parts.push(Buffer.from(p as Uint8Array));
    return Buffer.concat(parts);
  }

  it.each([0, 1, 600, CHUNK - 7, CHUNK, 3 * CHUNK + 5])(
    "decrypts openpgp.js's own output (%i bytes, buffered and streamed)",
    async (size) => {
      const plain = randomBytes(size);
      for (const streamed of [false, true]) {
        const theirs = await openpgpEncrypt(plain, streamed);
        const { out, error } = await run(createSeipdV2Decryptor(sk.data), theirs, 777);
        expect(error).toBeNull();
        expect(out.equals(plain)).toBe(true);
      }
    },
  );

  it('skips a prepended PKESK', async () => {
    const plain = randomBytes(CHUNK + 3);
    const { out: ours } = await run(createSeipdV2Encryptor(sk.data), plain);
    const { out, error } = await run(createSeipdV2Decryptor(sk.data), Buffer.concat([pkesk, ours]));
    expect(error).toBeNull();
    expect(out.equals(plain)).toBe(true);
  });

  it('errors on a wrong session key', async () => {
    const { out: ours } = await run(createSeipdV2Encryptor(sk.data), randomBytes(100));
    const { out, error } = await run(createSeipdV2Decryptor(randomBytes(32)), ours);
    expect(error).not.toBeNull();
    expect(out.length).toBe(0);
  });

  it('errors on any flipped byte or truncation, never releasing unverified plaintext', async () => {
    const plain = randomBytes(3 * CHUNK + 1000);
    const { out: ours } = await run(createSeipdV2Encryptor(sk.data), plain);
    const positions = new Set<number>();
    for (let i = 0; i < 48; i++) positions.add(i); // headers, salt, literal header
    for (let i = 1; i <= 48; i++) positions.add(ours.length - i); // last chunk, final tag
    for (let k = 1; k <= 3; k++)
      for (const d of [-40, -17, -16, -1, 0, 1, 16, 17, 40]) positions.add(k * (CHUNK + 16) + d);
    for (let i = 0; i < 40; i++) positions.add(Math.floor(Math.random() * ours.length));
    const lastChunkStart = ours.length - 32 - 1100; // safely before the last chunk's ciphertext
    for (const pos of positions) {
      for (const mask of [0x01, 0x80]) {
        const bad = Buffer.from(ours);
        bad[pos]! ^= mask;
        const { out, error } = await run(createSeipdV2Decryptor(sk.data), bad, 4099);
        expect(error, `flip at ${pos}`).not.toBeNull();
        expect(out.equals(plain.subarray(0, out.length)), `prefix at ${pos}`).toBe(true);
        if (pos >= lastChunkStart) expect(out.length).toBeLessThanOrEqual(3 * CHUNK);
      }
    }
    const cuts = [0, 1, 2, 37, 38, 100, CHUNK, CHUNK + 16, ours.length - 17, ours.length - 16];
    for (const cut of [...cuts, ours.length - 1]) {
      const { out, error } = await run(createSeipdV2Decryptor(sk.data), ours.subarray(0, cut));
      expect(error, `truncated to ${cut}`).not.toBeNull();
      expect(out.length).toBeLessThan(plain.length);
    }
    const { error } = await run(
      createSeipdV2Decryptor(sk.data),
      Buffer.concat([ours, Buffer.from([0xd2])]),
    );
    expect(error).not.toBeNull();
  });
});
