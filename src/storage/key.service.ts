import { type Sql } from '../database/index.js';
import { type KeyRing, type Recipient } from './key-ring.js';
import { type OpenPgpRepository, type SessionKey } from './openpgp.repository.js';
import { type StudyKeyRepository, type StudyKeyRow } from './study-key.repository.js';

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
    readonly ring: KeyRing,
  ) {}

  get primaryFingerprint(): string {
    return this.ring.primaryFingerprint;
  }

  /** The study's session key, creating and persisting it on first use. */
  async forStudy(studyUid: string): Promise<SessionKey> {
    return this.resolve(studyUid, true);
  }

  /** The study's session key for reading; fails if the study has none (or it was shredded). */
  async existingForStudy(studyUid: string): Promise<SessionKey> {
    return this.resolve(studyUid, false);
  }

  /**
   * Crypto-shredding within a purge's transaction: the study's PKESK rows are deleted, and its
   * session key is dropped from this node's cache. Returns the number of rows deleted.
   */
  async shred(tx: Sql, studyUid: string): Promise<number> {
    const n = await this.studyKeys.shred(tx, studyUid);
    this.cache.delete(studyUid);
    return n;
  }

  /** A detached OpenPGP signature of `text` by the current archive key (deletion certificates). */
  async sign(text: string): Promise<{ signature: string; fingerprint: string }> {
    const key = this.ring.heldKeys()[0];
    if (!key) throw new Error('this node holds no archive private key to sign with');
    return {
      signature: await this.pgp.signDetached(text, key.privateKey),
      fingerprint: key.fingerprint,
    };
  }

  /** Whether `signature` is a valid signature of `text` by one of the archive keys this node holds. */
  async verify(text: string, signature: string): Promise<boolean> {
    return this.pgp.verifyDetached(
      text,
      signature,
      this.ring.heldKeys().map((k) => k.privateKey.toPublic()),
    );
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

  /**
   * The PKESK rows a study lacks for `targets` (a rotation's new key, an escrow key), made from
   * its existing rows: unwrap once with a key we hold, wrap for each target. No object is touched.
   */
  async rewrap(
    studyUid: string,
    rows: StudyKeyRow[],
    targets: Recipient[],
  ): Promise<StudyKeyRow[]> {
    const missing = targets.filter(
      (t) => !rows.some((r) => r.recipient_fingerprint === t.fingerprint),
    );
    if (missing.length === 0) return [];
    const sk = this.cache.get(studyUid) ?? (await this.unwrapRows(rows, true));
    if (!sk) throw new Error('the study has no session key');
    return Promise.all(missing.map((r) => this.wrapRow(sk, r)));
  }

  /**
   * One step of a re-wrap scan: the next `limit` studies after `after` (UID order) get a PKESK for
   * every active recipient they lack, `concurrency` studies at a time. Idempotent, so a scan
   * interrupted anywhere resumes from its last recorded cursor. `missingOnly` takes the studies
   * lacking one instead of the next in order (a final sweep for keys made during the scan).
   */
  async rewrapBatch(
    after: string,
    limit: number,
    concurrency: number,
    missingOnly = false,
  ): Promise<{ last: string | null; studies: number; added: number; unreadable: number }> {
    const targets = await this.ring.recipients();
    const batch = missingOnly
      ? await this.studyKeys.studiesMissing(
          targets.map((t) => t.fingerprint),
          limit,
        )
      : await this.studyKeys.studiesAfter(after, limit);
    const entries: { studyUid: string; row: StudyKeyRow }[] = [];
    let unreadable = 0;
    const queue = [...batch.entries()];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [studyUid, rows] = next;
        try {
          for (const row of await this.rewrap(studyUid, rows, targets))
            entries.push({ studyUid, row });
        } catch {
          unreadable++;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const added = await this.studyKeys.addRows(entries);
    const uids = [...batch.keys()];
    return { last: uids[uids.length - 1] ?? null, studies: uids.length, added, unreadable };
  }

  async countStudies(): Promise<number> {
    return this.studyKeys.countStudies();
  }

  private async wrapRow(sk: SessionKey, r: Recipient): Promise<StudyKeyRow> {
    return {
      recipient_fingerprint: r.fingerprint,
      pkesk: Buffer.from(await this.pgp.wrapSessionKey(sk, r.key)),
      cipher_algorithm: sk.algorithm,
      aead_algorithm: sk.aeadAlgorithm,
    };
  }

  private async load(studyUid: string, create: boolean): Promise<SessionKey> {
    const existing = await this.unwrapRows(await this.studyKeys.find(studyUid), true);
    if (existing) return existing;
    if (!create) throw new Error('no session key is stored for this study');
    // The active recipients as the catalog says now: a rotation elsewhere is picked up.
    const recipients = await this.ring.recipients();
    const sk = await this.pgp.generateSessionKey(recipients[0]!.key);
    const rows = await Promise.all(recipients.map((r) => this.wrapRow(sk, r)));
    if (await this.studyKeys.insertIfAbsent(studyUid, rows)) return sk;
    // Another node created this study's key first: use theirs.
    const theirs = await this.unwrapRows(await this.studyKeys.find(studyUid), true);
    if (!theirs) throw new Error('study key vanished while being created');
    return theirs;
  }

  private async unwrapRows(rows: StudyKeyRow[], reload: boolean): Promise<SessionKey | null> {
    if (rows.length === 0) return null;
    for (const held of this.ring.heldKeys()) {
      const row = rows.find((r) => r.recipient_fingerprint === held.fingerprint);
      if (row) {
        return this.pgp.unwrapSessionKey(
          row.pkesk,
          held.privateKey,
          row.cipher_algorithm,
          row.aead_algorithm,
        );
      }
    }
    // Rotated by another process since we loaded the key folder? Look once more.
    if (reload && rows.some((r) => !this.ring.holds(r.recipient_fingerprint))) {
      await this.ring.reloadHeld();
      return this.unwrapRows(rows, false);
    }
    throw new Error('this study is encrypted for keys this archive does not hold');
  }
}
