import { type PrivateKey, type PublicKey } from 'openpgp';
import { type OpenPgpRepository, type SessionKey } from './openpgp.repository.js';
import { type StudyKeyRepository } from './study-key.repository.js';

export interface Recipient {
  key: PublicKey;
  fingerprint: string;
}

/**
 * One OpenPGP session key per study, wrapped for every archive recipient and kept in the catalog.
 * Unwrapped keys are cached in memory so an object costs only symmetric AEAD work (a public-key
 * operation per object would cap ingest at a few hundred objects a second).
 */
export class KeyService {
  private readonly cache = new Map<string, SessionKey>();
  private readonly inFlight = new Map<string, Promise<SessionKey>>();
  private static readonly CACHE_LIMIT = 10_000;

  constructor(
    private readonly pgp: OpenPgpRepository,
    private readonly studyKeys: StudyKeyRepository,
    private readonly privateKey: PrivateKey,
    private readonly recipients: Recipient[],
  ) {}

  get primaryFingerprint(): string {
    return this.recipients[0]!.fingerprint;
  }

  /** The study's session key, creating and persisting it on first use. */
  async forStudy(studyUid: string): Promise<SessionKey> {
    return this.resolve(studyUid, true);
  }

  /** The study's session key for reading; fails if the study has none (or it was shredded). */
  async existingForStudy(studyUid: string): Promise<SessionKey> {
    return this.resolve(studyUid, false);
  }

  /** The PKESK packet for the primary recipient: `pkesk ++ object` is a standard OpenPGP message. */
  async pkeskFor(studyUid: string): Promise<Buffer> {
    const rows = await this.studyKeys.find(studyUid);
    const row = rows.find((r) => r.recipient_fingerprint === this.primaryFingerprint) ?? rows[0];
    if (!row) throw new Error('no session key is stored for this study');
    return row.pkesk;
  }

  /** Every recipient's PKESK packet (archive key, escrow keys): any of them opens the message. */
  async allPkesks(studyUid: string): Promise<Buffer[]> {
    const rows = await this.studyKeys.find(studyUid);
    if (rows.length === 0) throw new Error('no session key is stored for this study');
    return rows.map((r) => r.pkesk);
  }

  private async resolve(studyUid: string, create: boolean): Promise<SessionKey> {
    const cached = this.cache.get(studyUid);
    if (cached) return cached;
    const pending = this.inFlight.get(studyUid);
    if (pending) return pending;
    const work = this.load(studyUid, create).finally(() => this.inFlight.delete(studyUid));
    this.inFlight.set(studyUid, work);
    const key = await work;
    if (this.cache.size >= KeyService.CACHE_LIMIT) {
      this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(studyUid, key);
    return key;
  }

  private async load(studyUid: string, create: boolean): Promise<SessionKey> {
    const existing = await this.unwrapStored(studyUid);
    if (existing) return existing;
    if (!create) throw new Error('no session key is stored for this study');
    const sk = await this.pgp.generateSessionKey(this.recipients[0]!.key);
    const rows = await Promise.all(
      this.recipients.map(async (r) => ({
        recipient_fingerprint: r.fingerprint,
        pkesk: Buffer.from(await this.pgp.wrapSessionKey(sk, r.key)),
        cipher_algorithm: sk.algorithm,
        aead_algorithm: sk.aeadAlgorithm,
      })),
    );
    if (await this.studyKeys.insertIfAbsent(studyUid, rows)) return sk;
    // Another node created this study's key first: use theirs.
    const theirs = await this.unwrapStored(studyUid);
    if (!theirs) throw new Error('study key vanished while being created');
    return theirs;
  }

  private async unwrapStored(studyUid: string): Promise<SessionKey | null> {
    const rows = await this.studyKeys.find(studyUid);
    for (const fingerprint of this.recipients.map((r) => r.fingerprint)) {
      const row = rows.find((r) => r.recipient_fingerprint === fingerprint);
      if (row) {
        return this.pgp.unwrapSessionKey(
          row.pkesk,
          this.privateKey,
          row.cipher_algorithm,
          row.aead_algorithm,
        );
      }
    }
    if (rows.length > 0)
      throw new Error('this study is encrypted for keys this archive does not hold');
    return null;
  }
}
