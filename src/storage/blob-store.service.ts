import { createHash, createHmac, type Hmac } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { type TierConfig, type TierName } from '../config/index.js';
import {
  type BlobBackend,
  type BlobLocation,
  type RestoreState,
  randomObjectKey,
  type WriteOptions,
} from './backend.js';
import { DigestingStream } from './digesting-stream.js';
import { type KeyService } from './key.service.js';
import { type OpenPgpRepository, type SessionKey } from './openpgp.repository.js';

export interface WrittenBlob {
  /** HMAC-SHA256(dedup secret, plaintext): the blob's identity in the catalog. */
  digest: Buffer;
  /** Plaintext size. */
  size: number;
  /** Ciphertext size as stored. */
  storedSize: number;
  location: BlobLocation;
}

/**
 * A blob whose bytes have all been received, hashed, encrypted and handed to the backend, but
 * that may not be durable yet: `durable` settles when it is (or when the write failed, and then
 * nothing is left at its key). Lets the caller prepare its catalog change meanwhile; it must not
 * commit it, or acknowledge anything, before `durable` resolves.
 */
export interface StagedBlob {
  blob: WrittenBlob;
  durable: Promise<void>;
}

/**
 * Encrypted, content-addressed blobs over the configured backends. Ingest always writes to the hot
 * tier; the digest and the ciphertext are produced in one pass over the plaintext.
 */
export class BlobStore {
  constructor(
    private readonly backends: ReadonlyMap<string, BlobBackend>,
    private readonly tiers: Readonly<Record<TierName, TierConfig>>,
    private readonly pgp: OpenPgpRepository,
    private readonly keys: KeyService,
    private readonly dedupSecret: Buffer,
  ) {}

  private backend(id: string): BlobBackend {
    const backend = this.backends.get(id);
    if (!backend) throw new Error(`unknown storage backend '${id}'`);
    return backend;
  }

  /** Each backend's readiness (BlobBackend.probe), by id. */
  async probeBackends(): Promise<{ id: string; ok: boolean; detail: string }[]> {
    return Promise.all(
      [...this.backends.values()].map(async (b) => {
        try {
          await b.probe();
          return { id: b.id, ok: true, detail: b.kind };
        } catch (error) {
          return { id: b.id, ok: false, detail: (error as Error).message };
        }
      }),
    );
  }

  /** Encrypts `plain` under the study's session key and stores it durably in the hot tier. */
  async write(studyUid: string, plain: Readable): Promise<WrittenBlob> {
    const staged = await this.stage(studyUid, plain);
    await staged.durable;
    return staged.blob;
  }

  /**
   * An HMAC under the blob digests' secret, for other bytes than a blob's: what a vendor profile
   * was given, so that the same bytes sent again are known as such.
   */
  receivedDigester(): Hmac {
    return createHmac('sha256', this.dedupSecret);
  }

  /**
   * Like `write`, but returns once the last byte is in (see StagedBlob). With the archive's own
   * keys this is one loop, no stream layers: each chunk is hashed, encrypted and queued to the
   * backend as it arrives, so little is left to do when the last byte comes in.
   */
  async stage(studyUid: string, plain: Readable): Promise<StagedBlob> {
    const sessionKey = await this.keys.forStudy(studyUid);
    const sealer = this.pgp.sealer(sessionKey);
    if (!sealer) {
      const blob = await this.writeThroughStreams(sessionKey, plain);
      return { blob, durable: Promise.resolve() };
    }
    const hot = this.tiers.hot;
    const writer = this.backend(hot.backend).openWriter(undefined, writeOptions(hot));
    const key = writer.key;
    const hmac = createHmac('sha256', this.dedupSecret);
    let size = 0;
    let storedSize = 0;
    const queue = (pieces: Buffer[]): Promise<void> | undefined => {
      for (const piece of pieces) storedSize += piece.length;
      return writer.write(pieces);
    };
    try {
      for await (const chunk of plain as AsyncIterable<Buffer>) {
        hmac.update(chunk);
        size += chunk.length;
        const wait = queue(sealer.update(chunk));
        if (wait) await wait;
      }
      queue(sealer.final());
    } catch (error) {
      await writer.abort();
      throw error;
    }
    const durable = writer.finish().then(
      () => undefined,
      async (error: unknown) => {
        await writer.abort();
        throw error;
      },
    );
    // Observed by the caller; this keeps an early failure from being reported as unhandled.
    durable.catch(() => undefined);
    return {
      blob: {
        digest: hmac.digest(),
        size,
        storedSize,
        location: { backend: hot.backend, key, tier: 'hot' },
      },
      durable,
    };
  }

  /** The same for session keys only openpgp.js handles (imported studies). */
  private async writeThroughStreams(sessionKey: SessionKey, plain: Readable): Promise<WrittenBlob> {
    const digesting = new DigestingStream(this.dedupSecret);
    // pipeline() also fails the write when `plain` was destroyed before we got here (a refused
    // instance whose encryption had already started), where plain listeners would never fire.
    pipeline(plain, digesting, (error) => {
      if (error) digesting.destroy(error);
    });
    const ciphertext = await this.pgp.encrypt(digesting, sessionKey);
    const key = randomObjectKey();
    const hot = this.tiers.hot;
    const { size: storedSize } = await this.backend(hot.backend).put(
      key,
      ciphertext,
      writeOptions(hot),
    );
    return {
      digest: digesting.digest(),
      size: digesting.size,
      storedSize,
      location: { backend: hot.backend, key, tier: 'hot' },
    };
  }

  /** Drops a written copy that the catalog did not take (duplicate, or a failed transaction). */
  async discard(blob: WrittenBlob): Promise<void> {
    await this.backend(blob.location.backend).delete(blob.location.key);
  }

  /** The plaintext of a stored object, decrypted on the fly. */
  async openPlaintext(location: BlobLocation, studyUid: string): Promise<Readable> {
    const sessionKey = await this.keys.existingForStudy(studyUid);
    const ciphertext = await this.backend(location.backend).get(location.key);
    return this.pgp.decrypt(ciphertext, sessionKey);
  }

  /**
   * A self-contained OpenPGP message (RFC 9580) of `prefix ++ plaintext` for disaster recovery:
   * every recipient's PKESK (archive and escrow keys), then one SEIPDv2 packet made afresh under the
   * study's session key, so the message decrypts with any of those private keys to, for example, a
   * whole Part 10 file. Streams; nothing is written in plaintext.
   */
  async exportMessage(location: BlobLocation, studyUid: string, prefix: Buffer): Promise<Readable> {
    const sessionKey = await this.keys.existingForStudy(studyUid);
    const sealer = this.pgp.sealer(sessionKey);
    if (!sealer) throw new Error('this study key cannot be re-sealed natively (not AES-256/GCM)');
    const pkesks = await this.keys.allPkesks(studyUid);
    const plain = await this.openPlaintext(location, studyUid);
    return Readable.from(
      (async function* () {
        yield* pkesks;
        yield* sealer.update(prefix);
        for await (const chunk of plain as AsyncIterable<Buffer>) yield* sealer.update(chunk);
        yield* sealer.final();
      })(),
      { objectMode: false },
    );
  }

  /** The stored ciphertext (an SEIPDv2 packet); prefix it with the study's PKESK to get a message. */
  async openCiphertext(location: BlobLocation): Promise<Readable> {
    return this.backend(location.backend).get(location.key);
  }

  /** Whether a copy can be read now: copies on a tier with `restore` may need one first. */
  async restoreState(location: BlobLocation): Promise<RestoreState> {
    const backend = this.backend(location.backend);
    const tier = this.tiers[location.tier as TierName] as TierConfig | undefined;
    if (!tier?.restore || !backend.restoreState) return 'ready';
    return backend.restoreState(location.key);
  }

  /** Asks for a copy to be restored (the tier's days and speed); returns the expected wait. */
  async requestRestore(location: BlobLocation): Promise<{ expectedSeconds: number }> {
    const backend = this.backend(location.backend);
    const restore = (this.tiers[location.tier as TierName] as TierConfig | undefined)?.restore;
    if (!restore || !backend.requestRestore) return { expectedSeconds: 0 };
    await backend.requestRestore(location.key, restore);
    return {
      expectedSeconds:
        backend.restoreEstimateSeconds?.(restore.tier) ?? RESTORE_ESTIMATE_SECONDS[restore.tier],
    };
  }

  /** Whether a tier keeps objects in an archive class (reading needs a restore first). */
  /** Whether copies on this backend can need a restore (it serves a tier with `restore`). */
  mayNeedRestore(backendId: string): boolean {
    return (
      this.backend(backendId).restoreState !== undefined &&
      Object.values(this.tiers).some((t) => t.backend === backendId && t.restore !== null)
    );
  }

  isArchiveTier(tier: TierName): boolean {
    return this.tiers[tier].restore !== null;
  }

  /** Size and server checksum of a stored object, or null when it is not there (no read, no restore). */
  async statObject(
    location: Pick<BlobLocation, 'backend' | 'key'>,
  ): Promise<{ size: number; checksum: string | null } | null> {
    const head = await this.backend(location.backend).head(location.key);
    return head ? { size: head.size, checksum: head.checksum ?? null } : null;
  }

  /** The stored size of an object, or null when it is not there (no read, no restore needed). */
  async storedSize(location: Pick<BlobLocation, 'backend' | 'key'>): Promise<number | null> {
    return (await this.backend(location.backend).head(location.key))?.size ?? null;
  }

  /** The backend id a tier's objects go to. */
  backendOf(tier: TierName): string {
    return this.tiers[tier].backend;
  }

  /** A new random key for an object (moves record it in their journal before writing). */
  newKey(): string {
    return randomObjectKey();
  }

  /**
   * Copies a stored object, as is (ciphertext), to a tier under `key`, in one pass that also
   * decrypts what it reads to the blob's HMAC digest and plaintext size (`source`: a source that
   * is damaged is caught before anything relies on the copy). `confirmed` when the target's server
   * proved it stored exactly the bytes sent (S3 ETag = their MD5): with a source that matches its
   * digest, the copy is then verified without reading it back.
   */
  async copyToTier(
    from: BlobLocation,
    tier: TierName,
    key: string,
    studyUid: string,
  ): Promise<{
    location: BlobLocation;
    size: number;
    source: { digest: Buffer; size: number } | null;
    confirmed: boolean;
    /** The server's checksum of the copy when `confirmed` (S3 ETag), for HEAD-only fixity. */
    checksum: string | null;
  }> {
    const target = this.tiers[tier];
    const sessionKey = await this.keys.existingForStudy(studyUid);
    const source = await this.backend(from.backend).get(from.key);
    const writer = this.backend(target.backend).openWriter(key, writeOptions(target));
    // The same bytes, decrypted on the side: a failure there is a damaged source, not a failed copy.
    const ciphertext = new PassThrough({ highWaterMark: 1 << 20 });
    const plain = await this.pgp.decrypt(ciphertext, sessionKey);
    const digesting = (async () => {
      const hmac = createHmac('sha256', this.dedupSecret);
      let size = 0;
      for await (const chunk of plain as AsyncIterable<Buffer>) {
        hmac.update(chunk);
        size += chunk.length;
      }
      return { digest: hmac.digest(), size };
    })().catch(() => null);
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const full = !ciphertext.destroyed && !ciphertext.write(chunk);
        const wait = writer.write([chunk]);
        if (wait) await wait;
        if (full && !ciphertext.destroyed) await once(ciphertext, 'drain');
      }
      ciphertext.end();
      const [{ size, confirmed, checksum }, sourceDigest] = await Promise.all([
        writer.finish(),
        digesting,
      ]);
      return {
        location: { backend: target.backend, key, tier },
        size,
        source: sourceDigest,
        confirmed: confirmed === true,
        checksum: confirmed === true ? (checksum ?? null) : null,
      };
    } catch (error) {
      source.destroy();
      ciphertext.destroy();
      await writer.abort();
      throw error;
    }
  }

  /**
   * Decrypts a stored object and returns its HMAC digest and plaintext size: equal to the blob's
   * catalog digest and size only if the object is whole and decrypts to exactly what was received.
   */
  async digestOf(
    location: BlobLocation,
    studyUid: string,
  ): Promise<{ digest: Buffer; size: number }> {
    const hmac = createHmac('sha256', this.dedupSecret);
    let size = 0;
    for await (const chunk of (await this.openPlaintext(
      location,
      studyUid,
    )) as AsyncIterable<Buffer>) {
      hmac.update(chunk);
      size += chunk.length;
    }
    return { digest: hmac.digest(), size };
  }

  /** Reads a stored object whole: its SHA-256 and size (what a copy is verified against). */
  async hashObject(
    location: Pick<BlobLocation, 'backend' | 'key'>,
  ): Promise<{ sha256: Buffer; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of (await this.backend(location.backend).get(
      location.key,
    )) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { sha256: hash.digest(), size };
  }

  /** Removes a stored object; removing one that is already gone is not an error. */
  async deleteObject(location: Pick<BlobLocation, 'backend' | 'key'>): Promise<void> {
    await this.backend(location.backend).delete(location.key);
  }

  listBackends(): BlobBackend[] {
    return [...this.backends.values()];
  }
}

/** What AWS documents for Glacier Flexible Retrieval: minutes, 3-5 hours, 5-12 hours. */
const RESTORE_ESTIMATE_SECONDS: Record<string, number> = {
  Expedited: 5 * 60,
  Standard: 5 * 3600,
  Bulk: 12 * 3600,
};

function writeOptions(tier: TierConfig): WriteOptions {
  return tier.storageClass ? { storageClass: tier.storageClass } : {};
}
