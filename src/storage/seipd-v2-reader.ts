import { createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import {
  AES_KEY_LENGTH,
  GCM_TAG_LENGTH,
  MAX_CHUNK_SIZE_BYTE,
  SALT_LENGTH,
  TAG_LITERAL,
  TAG_SEIPD,
  chunkNonce,
  deriveSeipdV2Keys,
  finalAdata,
  type SeipdV2Keys,
} from './seipd-v2-writer.js';

const TAG_PKESK = 1;
const TAG_SKESK = 3;
const TAG_MARKER = 10;
const TAG_PADDING = 21;

interface PacketHandler {
  /** Whether the body of a packet with this tag is wanted ('emit') or ignored ('skip'); throw to reject. */
  start(tag: number): 'emit' | 'skip';
  data(buf: Buffer): void;
  end(tag: number): void;
}

/**
 * Incremental parser of a sequence of OpenPGP packets (new- and old-format headers, partial body
 * lengths), handing the bodies over piece by piece without buffering them.
 */
class PacketParser {
  private state: 'tag' | 'length' | 'body' = 'tag';
  private tag = 0;
  private oldLengthType = -1;
  private lengthBytes: number[] = [];
  private remaining = 0;
  private lastPart = false;
  private mode: 'emit' | 'skip' = 'skip';
  packets = 0;

  constructor(private readonly handler: PacketHandler) {}

  write(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length) {
      if (this.state === 'tag') {
        const byte = buf[offset++]!;
        if ((byte & 0x80) === 0) throw new Error('invalid OpenPGP packet header');
        if (byte & 0x40) {
          this.tag = byte & 0x3f;
          this.oldLengthType = -1;
        } else {
          this.tag = (byte >> 2) & 0x0f;
          this.oldLengthType = byte & 0x03;
        }
        this.mode = this.handler.start(this.tag);
        this.packets++;
        this.lengthBytes = [];
        this.state = 'length';
        if (this.oldLengthType === 3) {
          this.remaining = Infinity; // indeterminate: up to the end of the input
          this.lastPart = true;
          this.state = 'body';
        }
      } else if (this.state === 'length') {
        this.lengthBytes.push(buf[offset++]!);
        this.parseLength();
      } else {
        const n = Math.min(buf.length - offset, this.remaining);
        if (this.mode === 'emit') this.handler.data(buf.subarray(offset, offset + n));
        offset += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endPart();
      }
    }
  }

  end(): void {
    if (this.state === 'body' && this.remaining === Infinity) {
      this.state = 'tag';
      this.handler.end(this.tag);
    }
    if (this.state !== 'tag') throw new Error('truncated OpenPGP packet');
  }

  private parseLength(): void {
    const b = this.lengthBytes;
    let length: number | null = null;
    let last = true;
    if (this.oldLengthType >= 0) {
      const need = 1 << this.oldLengthType;
      if (b.length === need) length = b.reduce((acc, x) => acc * 256 + x, 0);
    } else if (b[0]! < 192) {
      length = b[0]!;
    } else if (b[0]! < 224) {
      if (b.length === 2) length = ((b[0]! - 192) << 8) + b[1]! + 192;
    } else if (b[0]! < 255) {
      length = 2 ** (b[0]! & 0x1f);
      last = false;
    } else if (b.length === 5) {
      length = b[1]! * 2 ** 24 + b[2]! * 2 ** 16 + b[3]! * 2 ** 8 + b[4]!;
    }
    if (length === null) return;
    this.remaining = length;
    this.lastPart = last;
    this.lengthBytes = [];
    this.state = 'body';
    if (length === 0) this.endPart();
  }

  private endPart(): void {
    if (this.lastPart) {
      this.state = 'tag';
      this.handler.end(this.tag);
    } else {
      this.state = 'length';
    }
  }
}

/** Consumes the decrypted packet list: exactly one Literal Data packet (plus Padding packets). */
class LiteralHandler implements PacketHandler {
  private seen = false;
  private header: number[] = [];
  private headerLength = 6;
  private headerDone = false;

  constructor(private readonly out: (buf: Buffer) => void) {}

  start(tag: number): 'emit' | 'skip' {
    if (tag === TAG_PADDING) return 'skip';
    if (tag !== TAG_LITERAL) throw new Error(`unsupported packet ${tag} inside SEIPDv2 data`);
    if (this.seen) throw new Error('more than one Literal Data packet');
    this.seen = true;
    return 'emit';
  }

  data(buf: Buffer): void {
    let offset = 0;
    while (!this.headerDone && offset < buf.length) {
      this.header.push(buf[offset++]!);
      if (this.header.length === 2) this.headerLength = 6 + this.header[1]!;
      if (this.header.length === this.headerLength) this.headerDone = true;
    }
    if (offset < buf.length) this.out(offset === 0 ? buf : buf.subarray(offset));
  }

  end(): void {
    if (!this.headerDone) throw new Error('truncated Literal Data packet');
  }

  finish(): void {
    if (!this.seen) throw new Error('no Literal Data packet in SEIPDv2 data');
  }
}

/** Decrypts the body of a SEIPDv2 packet chunk by chunk, verifying every tag before release. */
class SeipdBodyHandler implements PacketHandler {
  private header: Buffer[] = [];
  private headerLength = 0;
  private keys: SeipdV2Keys | null = null;
  private cipherName = '';
  private chunkSize = 0;
  private pieces: Buffer[] = [];
  private length = 0;
  private chunkIndex = 0;
  private total = 0;
  private seenSeipd = false;
  done = false;

  constructor(
    private readonly sessionKey: Uint8Array,
    private readonly inner: PacketParser,
  ) {}

  start(tag: number): 'emit' | 'skip' {
    if (tag === TAG_SEIPD && !this.seenSeipd) {
      this.seenSeipd = true;
      return 'emit';
    }
    if (tag === TAG_PADDING || tag === TAG_MARKER) return 'skip';
    if ((tag === TAG_PKESK || tag === TAG_SKESK) && !this.seenSeipd) return 'skip';
    throw new Error(`unexpected OpenPGP packet ${tag}`);
  }

  data(buf: Buffer): void {
    if (this.keys === null) {
      const need = 4 + SALT_LENGTH - this.headerLength;
      const head = buf.subarray(0, need);
      this.header.push(head);
      this.headerLength += head.length;
      if (this.headerLength < 4 + SALT_LENGTH) return;
      this.parseHeader(Buffer.concat(this.header));
      buf = buf.subarray(need);
    }
    if (buf.length === 0) return;
    this.pieces.push(buf);
    this.length += buf.length;
    // A whole chunk is certainly not the last one when more than chunk + tag + final tag is held.
    while (this.length > this.chunkSize + 2 * GCM_TAG_LENGTH) {
      const plain = this.decryptChunk(this.chunkSize);
      for (const p of plain) this.inner.write(p);
    }
  }

  end(tag: number): void {
    if (tag !== TAG_SEIPD) return;
    if (this.keys === null) throw new Error('truncated SEIPDv2 packet');
    let last: Buffer[] = [];
    if (this.length >= 2 * GCM_TAG_LENGTH) {
      last = this.decryptChunk(this.length - 2 * GCM_TAG_LENGTH);
    } else if (this.length !== GCM_TAG_LENGTH || this.chunkIndex === 0) {
      throw new Error('truncated SEIPDv2 packet');
    }
    const decipher = this.newDecipher(this.chunkIndex);
    decipher.setAAD(finalAdata(this.keys, this.total));
    decipher.setAuthTag(this.take(GCM_TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      throw new Error('SEIPDv2 final authentication tag mismatch');
    }
    // Only now, with the final tag verified, is the last chunk's plaintext released.
    for (const p of last) this.inner.write(p);
    this.inner.end();
    this.done = true;
  }

  private parseHeader(h: Buffer): void {
    const [version, cipher, aead, chunkSizeByte] = [h[0]!, h[1]!, h[2]!, h[3]!];
    if (version !== 2) throw new Error(`unsupported SEIPD version ${version}`);
    if (chunkSizeByte > MAX_CHUNK_SIZE_BYTE) throw new Error('invalid SEIPDv2 chunk size');
    this.keys = deriveSeipdV2Keys(this.sessionKey, cipher, aead, chunkSizeByte, h.subarray(4));
    this.cipherName = `aes-${AES_KEY_LENGTH[cipher]! * 8}-gcm`;
    this.chunkSize = 2 ** (chunkSizeByte + 6);
  }

  private newDecipher(index: number) {
    return createDecipheriv(
      this.cipherName as 'aes-256-gcm',
      this.keys!.key,
      chunkNonce(this.keys!, index),
      { authTagLength: GCM_TAG_LENGTH },
    );
  }

  /** Decrypts and authenticates the next chunk of `size` plaintext bytes; returns its plaintext. */
  private decryptChunk(size: number): Buffer[] {
    const decipher = this.newDecipher(this.chunkIndex);
    decipher.setAAD(this.keys!.adata);
    const out: Buffer[] = [];
    let need = size;
    while (need > 0) {
      const head = this.pieces[0]!;
      const n = Math.min(head.length, need);
      out.push(decipher.update(head.subarray(0, n)));
      if (n === head.length) this.pieces.shift();
      else this.pieces[0] = head.subarray(n);
      need -= n;
    }
    this.length -= size;
    decipher.setAuthTag(this.take(GCM_TAG_LENGTH));
    try {
      out.push(decipher.final());
    } catch {
      throw new Error(`SEIPDv2 chunk ${this.chunkIndex} authentication tag mismatch`);
    }
    this.chunkIndex++;
    this.total += size;
    return out.filter((b) => b.length > 0);
  }

  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.pieces[0]!;
      const k = Math.min(head.length, need);
      parts.push(head.subarray(0, k));
      if (k === head.length) this.pieces.shift();
      else this.pieces[0] = head.subarray(k);
      need -= k;
    }
    this.length -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

class SeipdV2Decryptor extends Transform {
  private readonly outer: PacketParser;
  private readonly body: SeipdBodyHandler;
  private readonly literal: LiteralHandler;

  constructor(sessionKey: Uint8Array) {
    super();
    this.literal = new LiteralHandler((buf) => this.push(buf));
    const inner = new PacketParser(this.literal);
    this.body = new SeipdBodyHandler(sessionKey, inner);
    this.outer = new PacketParser(this.body);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.outer.write(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.outer.end();
      if (!this.body.done) throw new Error('no SEIPDv2 packet in input');
      this.literal.finish();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * A Transform taking an OpenPGP message made of one SEIPDv2 packet (AES, GCM) — optionally preceded
 * by PKESK/SKESK packets, which are skipped — and emitting the Literal Data plaintext. Each chunk's
 * plaintext is released only after its tag verified; the last chunk's only after the final tag
 * verified too. Any tampering or truncation surfaces as a stream error.
 */
export function createSeipdV2Decryptor(sessionKey: Uint8Array): Transform {
  return new SeipdV2Decryptor(sessionKey);
}
