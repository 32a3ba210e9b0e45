import { Logger } from '@nestjs/common';
import { type PrivateKey, type PublicKey } from 'openpgp';
import { type AuditService } from '../audit/index.js';
import { type Database } from '../database/index.js';
import { type ArchiveKeyRepository } from './archive-key.repository.js';
import {
  type KeyRecipient,
  type KeyRecipientRepository,
  type RecipientRole,
} from './key-recipient.repository.js';
import { type OpenPgpRepository } from './openpgp.repository.js';

export interface Recipient {
  key: PublicKey;
  fingerprint: string;
  role: RecipientRole;
}

/** An archive key whose private half this node holds (in the key folder or the configured file). */
export interface HeldKey {
  fingerprint: string;
  privateKey: PrivateKey;
  file: string | null;
}

export interface KeyChangeActor {
  actor: string;
  actorHost: string | null;
  /** The caller's role (an API token's), for the audit trail; null for the CLI or the system. */
  role?: string | null;
}

/** Serialises key-ring changes across processes (the CLI and every server node). */
export const KEY_RING_LOCK = `SELECT pg_advisory_xact_lock(hashtext('strata:key-ring'))`;

/**
 * The archive's OpenPGP key ring: the private archive keys this node holds, and the active
 * recipients from the catalog (key_recipients), which every node wraps new study keys for. The
 * catalog is the truth for who is active; the key folder only says which private keys we have.
 */
export class KeyRing {
  private readonly logger = new Logger('Keys');
  private readonly held = new Map<string, HeldKey>();
  private readonly loadedFiles = new Set<string>();
  private readonly publicKeys = new Map<string, PublicKey>();
  private current: string | null = null;
  /** Escrow keys `open` added to the catalog from the config file: existing studies need them. */
  registeredAtOpen: string[] = [];

  constructor(
    private readonly pgp: OpenPgpRepository,
    private readonly files: ArchiveKeyRepository,
    private readonly repo: KeyRecipientRepository,
    private readonly db: Database,
    private readonly audit: AuditService,
    private passphrase: string | null,
    private readonly firstKey: { armored: string | null; file: string | null },
  ) {}

  /** Reads the private keys, registers unknown ones (and configured escrow keys) in the catalog. */
  async open(extraRecipients: { file: string; armored: string }[]): Promise<string[]> {
    await this.reloadHeld();
    const added: string[] = [];
    for (const key of this.held.values()) {
      const publicKey = this.pgp.armor(key.privateKey.toPublic());
      const registered = await this.register(
        { fingerprint: key.fingerprint, role: 'archive', publicKey, label: key.file },
        { actor: 'system', actorHost: null },
      );
      if (registered) added.push(key.fingerprint);
    }
    for (const extra of extraRecipients) {
      const r = await this.pgp.readRecipientKey(extra.armored);
      const known = await this.repo.find(r.fingerprint);
      if (known?.status === 'retired') {
        this.logger.warn(
          `keys.extraRecipientFiles lists ${extra.file}, whose key ${r.fingerprint} was retired: not used`,
        );
        continue;
      }
      const registered = await this.register(
        { fingerprint: r.fingerprint, role: 'escrow', publicKey: r.armored, label: extra.file },
        { actor: 'system', actorHost: null },
      );
      if (registered) {
        added.push(r.fingerprint);
        this.registeredAtOpen.push(r.fingerprint);
      }
    }
    const active = await this.recipients();
    if (!active.some((r) => r.role === 'archive')) {
      throw new Error('the catalog has no active archive key (key_recipients)');
    }
    if (!this.held.has(active[0]!.fingerprint)) {
      this.logger.warn(
        `the current archive key ${active[0]!.fingerprint} is not in ${this.files.folder}: ` +
          'studies wrapped only for it cannot be read on this node',
      );
    }
    return added;
  }

  /** The current archive key (newest active one): preferred for unwrapping. */
  get primaryFingerprint(): string {
    return this.current ?? [...this.held.keys()][0]!;
  }

  /** Held private keys, the current archive key first. */
  heldKeys(): HeldKey[] {
    const first = this.current ? this.held.get(this.current) : undefined;
    return first
      ? [first, ...[...this.held.values()].filter((k) => k !== first)]
      : [...this.held.values()];
  }

  holds(fingerprint: string): boolean {
    return this.held.has(fingerprint);
  }

  /**
   * The active recipients, the current archive key first, as the catalog says now (one small
   * query: called once per new study, so a rotation made by another process is picked up).
   */
  async recipients(): Promise<Recipient[]> {
    const rows = await this.repo.activeFingerprints();
    const out: Recipient[] = [];
    for (const row of rows) {
      let key = this.publicKeys.get(row.fingerprint);
      if (!key) {
        const armored = await this.repo.publicKeyOf(row.fingerprint);
        if (!armored) continue;
        key = (await this.pgp.readRecipientKey(armored)).key;
        this.publicKeys.set(row.fingerprint, key);
      }
      out.push({ key, fingerprint: row.fingerprint, role: row.role });
    }
    this.current = out.find((r) => r.role === 'archive')?.fingerprint ?? this.current;
    return out;
  }

  /** Re-reads the key folder: a key made by `strata keys rotate` in another process joins. */
  async reloadHeld(): Promise<void> {
    const sources = [
      ...(this.firstKey.armored ? [this.firstKey] : []),
      ...(await this.files.rotatedKeyFiles()),
    ];
    for (const source of sources) {
      const id = source.file ?? '(first key)';
      if (this.loadedFiles.has(id)) continue;
      try {
        const pair = await this.pgp.readKeyPair(source.armored!, this.passphrase);
        if (!this.held.has(pair.fingerprint)) {
          this.held.set(pair.fingerprint, {
            fingerprint: pair.fingerprint,
            privateKey: pair.privateKey,
            file: source.file,
          });
        }
        this.loadedFiles.add(id);
      } catch (error) {
        throw new Error(
          `cannot open the archive key ${source.file}: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
    if (this.held.size === 0) throw new Error(`no archive private key in ${this.files.folder}`);
  }

  /**
   * Every archive key's public half, armored, with whether this node holds its private key: the
   * keys audit checkpoints may be signed with (retired archive keys included, for old ones).
   */
  async archivePublicKeys(): Promise<{ fingerprint: string; armored: string; held: boolean }[]> {
    const out = new Map<string, { fingerprint: string; armored: string; held: boolean }>();
    for (const k of this.held.values()) {
      out.set(k.fingerprint, {
        fingerprint: k.fingerprint,
        armored: this.pgp.armor(k.privateKey.toPublic()),
        held: true,
      });
    }
    for (const r of await this.repo.all()) {
      if (r.role === 'archive' && !out.has(r.fingerprint)) {
        out.set(r.fingerprint, { fingerprint: r.fingerprint, armored: r.publicKey, held: false });
      }
    }
    return [...out.values()];
  }

  /** The key ring as the catalog has it, with how many studies are wrapped for each key. */
  async list(): Promise<{
    studies: number;
    recipients: (KeyRecipient & { studies: number; heldHere: boolean; current: boolean })[];
  }> {
    await this.recipients();
    const [all, coverage] = await Promise.all([this.repo.all(), this.repo.coverage()]);
    return {
      studies: coverage.studies,
      recipients: all.map((r) => ({
        ...r,
        studies: coverage.perRecipient.get(r.fingerprint) ?? 0,
        heldHere: this.held.has(r.fingerprint),
        current: r.fingerprint === this.current,
      })),
    };
  }

  /** Makes a new archive key (same passphrase), saves it, and makes it the current one. */
  async generateArchiveKey(by: KeyChangeActor): Promise<string> {
    this.passphrase = await this.files.passphraseForNewKeys(this.passphrase);
    const pair = await this.pgp.generateKeyPair(this.passphrase);
    const opened = await this.pgp.readKeyPair(pair.armoredPrivate, this.passphrase);
    const file = await this.files.saveRotatedKey(opened.fingerprint, pair);
    this.held.set(opened.fingerprint, {
      fingerprint: opened.fingerprint,
      privateKey: opened.privateKey,
      file,
    });
    await this.register(
      {
        fingerprint: opened.fingerprint,
        role: 'archive',
        publicKey: pair.armoredPublic,
        label: file,
      },
      by,
    );
    await this.recipients();
    return opened.fingerprint;
  }

  /** Adds an escrow recipient from an armored key; throws a clear message on an unusable key. */
  async addEscrow(
    armored: string,
    label: string | null,
    by: KeyChangeActor,
  ): Promise<{ fingerprint: string; added: boolean; hadPrivate: boolean }> {
    let r: Awaited<ReturnType<OpenPgpRepository['readRecipientKey']>>;
    try {
      r = await this.pgp.readRecipientKey(armored);
    } catch (error) {
      throw new UnusableKeyError((error as Error).message, { cause: error });
    }
    const known = await this.repo.find(r.fingerprint);
    if (known?.status === 'retired') {
      throw new KeyRingError(
        `the key ${r.fingerprint} was retired; a retired key cannot be added again`,
      );
    }
    const added = await this.register(
      { fingerprint: r.fingerprint, role: 'escrow', publicKey: r.armored, label },
      by,
    );
    return { fingerprint: r.fingerprint, added, hadPrivate: r.hadPrivate };
  }

  /**
   * Retires a recipient: deletes its wrapped session keys and marks it retired, in one audited
   * transaction. Refused for the current archive key, and for an archive key that is the only one
   * some study is wrapped for (finish the rotation first). A retired archive key's files move to
   * <keys>/retired/. Returns how many study keys were unwrapped for it.
   */
  async retire(fingerprint: string, by: KeyChangeActor): Promise<{ studyKeysRemoved: number }> {
    const result = await this.db.transaction(async (tx) => {
      await tx.query(KEY_RING_LOCK);
      const r = await this.repo.find(fingerprint, tx);
      if (!r) throw new KeyRingError(`no key ${fingerprint} in the key ring`);
      if (r.status === 'retired')
        throw new KeyRingError(`the key ${fingerprint} is already retired`);
      if (r.role === 'archive') {
        const [current] = await tx.query<{ fingerprint: string }>(
          `SELECT fingerprint FROM key_recipients WHERE role = 'archive' AND status = 'active'
            ORDER BY created_at DESC LIMIT 1`,
        );
        if (current?.fingerprint === fingerprint) {
          throw new KeyRingError(
            `${fingerprint} is the current archive key: run 'strata keys rotate' first`,
          );
        }
        const [orphaned] = await tx.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM study_keys k
            WHERE k.recipient_fingerprint = $1
              AND NOT EXISTS (
                SELECT 1 FROM study_keys o
                  JOIN key_recipients a ON a.fingerprint = o.recipient_fingerprint
                 WHERE o.study_instance_uid = k.study_instance_uid AND a.role = 'archive'
                   AND a.status = 'active' AND a.fingerprint <> $1)`,
          [fingerprint],
        );
        if ((orphaned?.n ?? 0) > 0) {
          throw new KeyRingError(
            `${orphaned!.n} studies are wrapped for no other active archive key: ` +
              `run 'strata keys rotate --resume' to finish re-wrapping them first`,
          );
        }
      }
      const removed = await tx.query(
        'DELETE FROM study_keys WHERE recipient_fingerprint = $1 RETURNING 1',
        [fingerprint],
      );
      await this.repo.markRetired(tx, fingerprint);
      await this.audit.record(tx, {
        ...by,
        action: 'key.retired',
        outcome: 'success',
        detail: { fingerprint, role: r.role, studyKeysRemoved: removed.length },
      });
      return { studyKeysRemoved: removed.length };
    });
    const held = this.held.get(fingerprint);
    if (held) {
      this.held.delete(fingerprint);
      if (held.file && held.file.startsWith(this.files.folder)) {
        const to = await this.files.retireKeyFile(held.file);
        this.logger.log(`moved the retired key's file to ${to}`);
      }
    }
    return result;
  }

  private async register(
    r: { fingerprint: string; role: RecipientRole; publicKey: string; label: string | null },
    by: KeyChangeActor,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query(KEY_RING_LOCK);
      const added = await this.repo.insert(tx, r);
      if (added) {
        await this.audit.record(tx, {
          ...by,
          action: 'key.recipient-added',
          outcome: 'success',
          detail: { fingerprint: r.fingerprint, role: r.role, label: r.label },
        });
      }
      return added;
    });
  }
}

/** A key-ring change that was refused (the message says why and what to do). */
export class KeyRingError extends Error {}

/** A key offered as a recipient that cannot be used (not a key, no encryption key, RSA...). */
export class UnusableKeyError extends Error {}
