import { createCipheriv, hkdfSync, randomBytes, type CipherGCM } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A streaming writer of OpenPGP SEIPDv2 packets (RFC 9580 §5.13.2) on node:crypto, byte-compatible
 * with what openpgp.js 6.3.2 writes for `openpgp.encrypt({ sessionKey, config: { aeadProtect: true } })`:
 *
 *   0xD2 ‖ partial-length-framed body
 *   body = 0x02 ‖ cipher (9 = AES-256) ‖ aead (3 = GCM) ‖ chunk size octet ‖ salt[32]
 *          ‖ chunk_0 ‖ tag_0 ‖ … ‖ chunk_{n-1} ‖ tag_{n-1} ‖ final tag
 *   AEAD plaintext = one Literal Data packet (0xCB, partial-length-framed, format 'b', no file name).
 */

/** Packet tag numbers (RFC 9580 §5). */
export const TAG_LITERAL = 11;
export const TAG_SEIPD = 18;
/** Symmetric algorithm ids → key length (RFC 9580 §9.3: AES-128/192/256). */
export const AES_KEY_LENGTH: Readonly<Record<number, number>> = { 7: 16, 8: 24, 9: 32 };
export const CIPHER_AES256 = 9;
/** AEAD algorithm id of GCM (RFC 9580 §9.6). */
export const AEAD_GCM = 3;
export const GCM_NONCE_LENGTH = 12;
export const GCM_TAG_LENGTH = 16;
export const SALT_LENGTH = 32;
/** openpgp.js `config.aeadChunkSizeByte` default: 2^(12 + 6) = 256 KiB chunks. */
export const DEFAULT_CHUNK_SIZE_BYTE = 12;
/** RFC 9580 §5.13.2: the chunk size octet MUST be ≤ 16 (4 MiB chunks). */
export const MAX_CHUNK_SIZE_BYTE = 16;
/** Size of every partial body part we write (2^18 = 256 KiB; the first one must be ≥ 512). */
const PART_POWER = 18;

export interface SeipdV2Keys {
  /** The 5 bytes used both as HKDF info and as AEAD associated data. */
  adata: Buffer;
  /** Message key (HKDF output bytes 0..keyLength). */
  key: Buffer;
  /** 12-byte nonce template: 4 derived IV bytes ‖ 8 zero bytes, overwritten with the chunk index. */
  nonce: Buffer;
}

/**
 * HKDF-SHA256(ikm = session key, salt, info = 0xC0|18 ‖ 2 ‖ cipher ‖ aead ‖ chunk size octet).
 * openpgp.js (`runAEAD`) derives keySize + 12 bytes and zeroes the last 8 of the IV; HKDF output
 * is prefix-stable, so deriving keySize + 4 bytes gives the same key and IV.
 */
export function deriveSeipdV2Keys(
  sessionKey: Uint8Array,
  cipher: number,
  aead: number,
  chunkSizeByte: number,
  salt: Uint8Array,
): SeipdV2Keys {
  const keyLength = AES_KEY_LENGTH[cipher];
  if (keyLength === undefined) throw new Error(`unsupported SEIPDv2 cipher algorithm ${cipher}`);
  if (aead !== AEAD_GCM) throw new Error(`unsupported SEIPDv2 AEAD algorithm ${aead}`);
  if (sessionKey.length !== keyLength) throw new Error('unexpected session key size');
  const adata = Buffer.from([0xc0 | TAG_SEIPD, 2, cipher, aead, chunkSizeByte]);
  const ivLength = GCM_NONCE_LENGTH - 8;
  const derived = Buffer.from(hkdfSync('sha256', sessionKey, salt, adata, keyLength + ivLength));
  const nonce = Buffer.alloc(GCM_NONCE_LENGTH);
  derived.copy(nonce, 0, keyLength);
  return { adata, key: derived.subarray(0, keyLength), nonce };
}

/** The nonce of chunk `index`: IV ‖ 64-bit big-endian index (RFC 9580 §5.13.2). */
export function chunkNonce(keys: SeipdV2Keys, index: number): Buffer {
  const nonce = Buffer.from(keys.nonce);
  nonce.writeBigUInt64BE(BigInt(index), GCM_NONCE_LENGTH - 8);
  return nonce;
}

/** Associated data of the final tag: adata ‖ 64-bit big-endian total plaintext length. */
export function finalAdata(keys: SeipdV2Keys, totalLength: number): Buffer {
  const out = Buffer.alloc(keys.adata.length + 8);
  keys.adata.copy(out, 0);
  out.writeBigUInt64BE(BigInt(totalLength), keys.adata.length);
  return out;
}

/** A one-, two- or five-octet new-format body length (RFC 9580 §4.2.1.1–3). */
export function encodeLength(length: number): Buffer {
  if (length < 192) return Buffer.from([length]);
  if (length < 8384) return Buffer.from([((length - 192) >> 8) + 192, (length - 192) & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = 0xff;
  out.writeUInt32BE(length, 1);
  return out;
}

/**
 * Frames a packet body of unknown length as new-format partial body lengths: the tag octet, then
 * parts of exactly 2^power bytes each prefixed by 0xE0 + power, then a final part with a normal
 * length (possibly 0). Holds at most one part in memory; pieces are passed on without copying.
 */
class PartialBodyWriter {
  private pieces: Buffer[] = [];
  private length = 0;
  private tagPending = true;
  private readonly partSize: number;

  constructor(
    private readonly tag: number,
    private readonly power: number,
    private readonly emit: (pieces: Buffer[]) => void,
  ) {
    this.partSize = 2 ** power;
  }

  write(buf: Buffer): void {
    if (buf.length === 0) return;
    this.pieces.push(buf);
    this.length += buf.length;
    while (this.length >= this.partSize) this.emitPart();
  }

  end(): void {
    this.emit([...this.header(encodeLength(this.length)), ...this.pieces]);
    this.pieces = [];
    this.length = 0;
  }

  private header(length: Buffer): Buffer[] {
    if (!this.tagPending) return [length];
    this.tagPending = false;
    return [Buffer.from([0xc0 | this.tag]), length];
  }

  private emitPart(): void {
    const out = this.header(Buffer.from([0xe0 + this.power]));
    let need = this.partSize;
    while (need > 0) {
      const head = this.pieces[0]!;
      if (head.length <= need) {
        out.push(head);
        this.pieces.shift();
        need -= head.length;
      } else {
        out.push(head.subarray(0, need));
        this.pieces[0] = head.subarray(need);
        need = 0;
      }
    }
    this.length -= this.partSize;
    this.emit(out);
  }
}

export interface SeipdV2EncryptorOptions {
  /** Chunk size octet c (chunks of 2^(c + 6) bytes); default 12 like openpgp.js (256 KiB). */
  chunkSizeByte?: number;
  /** Date of the Literal Data packet (openpgp.js: the message creation date); default now. */
  date?: Date;
}

/**
 * The encryptor without a stream around it: `update` and `final` return the ciphertext pieces
 * ready so far (possibly none). The ingest path calls it directly, with no stream layers between
 * the socket and the file; the Transform below wraps it for everything else.
 */
export class SeipdV2Sealer {
  private readonly keys: SeipdV2Keys;
  private readonly chunkSize: number;
  private readonly literal: PartialBodyWriter;
  private readonly packet: PartialBodyWriter;
  private cipher: CipherGCM | null = null;
  private inChunk = 0;
  private chunkIndex = 0;
  private total = 0;
  private out: Buffer[] = [];

  constructor(sessionKey: Uint8Array, options: SeipdV2EncryptorOptions = {}) {
    const chunkSizeByte = options.chunkSizeByte ?? DEFAULT_CHUNK_SIZE_BYTE;
    if (
      !Number.isInteger(chunkSizeByte) ||
      chunkSizeByte < 0 ||
      chunkSizeByte > MAX_CHUNK_SIZE_BYTE
    ) {
      throw new Error(`invalid SEIPDv2 chunk size octet ${chunkSizeByte}`);
    }
    if (sessionKey.length !== 32) throw new Error('expected a 32-byte AES-256 session key');
    this.chunkSize = 2 ** (chunkSizeByte + 6);
    const salt = randomBytes(SALT_LENGTH);
    this.keys = deriveSeipdV2Keys(sessionKey, CIPHER_AES256, AEAD_GCM, chunkSizeByte, salt);

    // Outer packet: ciphertext pieces are passed on as they are (no copy), small ones merged so
    // that writes stay large.
    this.packet = new PartialBodyWriter(TAG_SEIPD, PART_POWER, (pieces) => this.collect(pieces));
    this.packet.write(
      Buffer.concat([Buffer.from([2, CIPHER_AES256, AEAD_GCM, chunkSizeByte]), salt]),
    );

    // Inner Literal Data packet (RFC 9580 §5.9): 'b', empty file name, 4-byte date, then the data.
    this.literal = new PartialBodyWriter(TAG_LITERAL, PART_POWER, (pieces) => {
      for (const piece of pieces) this.encrypt(piece);
    });
    const literalHeader = Buffer.alloc(6);
    literalHeader[0] = 0x62; // 'b'
    literalHeader[1] = 0; // file name length
    literalHeader.writeUInt32BE(Math.floor((options.date ?? new Date()).getTime() / 1000), 2);
    this.literal.write(literalHeader);
  }

  /** Encrypts more plaintext; returns the ciphertext completed so far. */
  update(chunk: Buffer): Buffer[] {
    this.literal.write(chunk);
    return this.take();
  }

  /** Ends the message; returns the rest of the ciphertext. */
  final(): Buffer[] {
    this.literal.end();
    // openpgp.js always writes chunk 0 (even empty) and never an empty later chunk.
    if (this.cipher !== null || this.chunkIndex === 0) this.finishChunk();
    const final = createCipheriv(
      'aes-256-gcm',
      this.keys.key,
      chunkNonce(this.keys, this.chunkIndex),
    );
    final.setAAD(finalAdata(this.keys, this.total));
    final.final();
    this.packet.write(final.getAuthTag());
    this.packet.end();
    return this.take();
  }

  private take(): Buffer[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private collect(pieces: Buffer[]): void {
    let small: Buffer[] = [];
    let smallLength = 0;
    for (const piece of pieces) {
      if (smallLength + piece.length < 16 * 1024) {
        small.push(piece);
        smallLength += piece.length;
        continue;
      }
      if (small.length > 0) {
        small.push(piece);
        this.out.push(Buffer.concat(small));
        small = [];
        smallLength = 0;
      } else {
        this.out.push(piece);
      }
    }
    if (small.length > 0) this.out.push(Buffer.concat(small));
  }

  /** Encrypts AEAD plaintext, cutting it into chunks of `chunkSize`, without buffering it. */
  private encrypt(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length) {
      const cipher = (this.cipher ??= this.newCipher());
      const n = Math.min(buf.length - offset, this.chunkSize - this.inChunk);
      this.packet.write(cipher.update(buf.subarray(offset, offset + n)));
      offset += n;
      this.inChunk += n;
      this.total += n;
      if (this.inChunk === this.chunkSize) this.finishChunk();
    }
  }

  private newCipher(): CipherGCM {
    const cipher = createCipheriv(
      'aes-256-gcm',
      this.keys.key,
      chunkNonce(this.keys, this.chunkIndex),
      { authTagLength: GCM_TAG_LENGTH },
    );
    cipher.setAAD(this.keys.adata);
    return cipher;
  }

  private finishChunk(): void {
    const cipher = this.cipher ?? this.newCipher();
    this.packet.write(cipher.final());
    this.packet.write(cipher.getAuthTag());
    this.cipher = null;
    this.inChunk = 0;
    this.chunkIndex++;
  }
}

class SeipdV2Encryptor extends Transform {
  private readonly sealer: SeipdV2Sealer;

  constructor(sessionKey: Uint8Array, options: SeipdV2EncryptorOptions) {
    super();
    this.sealer = new SeipdV2Sealer(sessionKey, options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      for (const piece of this.sealer.update(chunk)) this.push(piece);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      for (const piece of this.sealer.final()) this.push(piece);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * A Transform taking plaintext and emitting one complete OpenPGP SEIPDv2 packet (AES-256, GCM)
 * under `sessionKey`, wrapping the plaintext in a binary Literal Data packet as openpgp.js does, so
 * `openpgp.decrypt({ message, sessionKeys: { data, algorithm: 'aes256', aeadAlgorithm: 'gcm' } })`
 * (or a PKESK ‖ this packet, with the private key) returns exactly the plaintext. Memory is bounded:
 * at most one 256 KiB partial-length part of plaintext and of ciphertext is held.
 */
export function createSeipdV2Encryptor(
  sessionKey: Uint8Array,
  options: SeipdV2EncryptorOptions = {},
): Transform {
  return new SeipdV2Encryptor(sessionKey, options);
}
