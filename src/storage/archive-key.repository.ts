import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredKeyMaterial {
  /** The first archive key (configured file or archive.private.asc); null once it was retired. */
  armoredPrivate: string | null;
  /** Its file, for retiring it. */
  privateFile: string | null;
  passphrase: string | null;
  /** True when this call generated the passphrase file (start-up warns loudly). */
  passphraseGenerated: boolean;
  dedupSecret: Buffer;
  /** True when this call generated a new key pair. */
  generated: boolean;
}

/**
 * Key files in <data dir>/keys: the archive's private key (armored, passphrase-protected), the
 * generated passphrase when STRATA_KEY_PASSPHRASE is unset, and the HMAC secret that makes blob
 * digests meaningless to someone who holds only the database. All mode 0600.
 */
export class ArchiveKeyRepository {
  constructor(
    private readonly dir: string,
    private readonly configuredPrivateKeyFile: string | null,
  ) {}

  /** The key folder (<data dir>/keys). */
  get folder(): string {
    return this.dir;
  }

  private file(name: string): string {
    return join(this.dir, name);
  }

  async load(
    envPassphrase: string | null,
    generate: (passphrase: string) => Promise<{ armoredPrivate: string; armoredPublic: string }>,
  ): Promise<StoredKeyMaterial> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const dedupFile = this.file('dedup.secret');
    if (!existsSync(dedupFile)) {
      await writeFile(dedupFile, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    const dedupSecret = Buffer.from((await readFile(dedupFile, 'utf8')).trim(), 'base64');

    let passphrase = envPassphrase;
    let passphraseGenerated = false;
    const passFile = this.file('passphrase');
    if (!passphrase && existsSync(passFile)) passphrase = (await readFile(passFile, 'utf8')).trim();

    if (this.configuredPrivateKeyFile) {
      return {
        armoredPrivate: await readFile(this.configuredPrivateKeyFile, 'utf8'),
        privateFile: this.configuredPrivateKeyFile,
        passphrase,
        passphraseGenerated,
        dedupSecret,
        generated: false,
      };
    }
    const privateFile = this.file('archive.private.asc');
    // After the first key was retired, the ring is the rotated keys alone: nothing to generate.
    if (existsSync(privateFile) || (await this.rotatedKeyFiles()).length > 0) {
      return {
        armoredPrivate: existsSync(privateFile) ? await readFile(privateFile, 'utf8') : null,
        privateFile: existsSync(privateFile) ? privateFile : null,
        passphrase,
        passphraseGenerated,
        dedupSecret,
        generated: false,
      };
    }
    if (!passphrase) {
      passphrase = randomBytes(24).toString('base64url');
      await writeFile(passFile, passphrase, { mode: 0o600, flag: 'wx' });
      passphraseGenerated = true;
    }
    const pair = await generate(passphrase);
    await writeFile(this.file('archive.public.asc'), pair.armoredPublic, { mode: 0o644 });
    await writeFile(privateFile, pair.armoredPrivate, { mode: 0o600, flag: 'wx' });
    return {
      armoredPrivate: pair.armoredPrivate,
      privateFile,
      passphrase,
      passphraseGenerated,
      dedupSecret,
      generated: true,
    };
  }

  async readFileText(path: string): Promise<string> {
    return readFile(path, 'utf8');
  }

  /** The archive keys made by `strata keys rotate`: archive-<FINGERPRINT>.private.asc. */
  async rotatedKeyFiles(): Promise<{ file: string; armored: string }[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const files = names.filter((n) => /^archive-[0-9a-f]{40,64}\.private\.asc$/.test(n)).sort();
    return Promise.all(
      files.map(async (n) => ({
        file: this.file(n),
        armored: await readFile(this.file(n), 'utf8'),
      })),
    );
  }

  /** Writes a new archive key pair (the private half mode 0600, never overwriting); returns its file. */
  async saveRotatedKey(
    fingerprint: string,
    pair: { armoredPrivate: string; armoredPublic: string },
  ): Promise<string> {
    const privateFile = this.file(`archive-${fingerprint}.private.asc`);
    await writeFile(this.file(`archive-${fingerprint}.public.asc`), pair.armoredPublic, {
      mode: 0o644,
    });
    await writeFile(privateFile, pair.armoredPrivate, { mode: 0o600, flag: 'wx' });
    return privateFile;
  }

  /**
   * The passphrase new archive keys get: the configured or stored one, else a new one written
   * beside the keys (as on first start with no STRATA_KEY_PASSPHRASE).
   */
  async passphraseForNewKeys(current: string | null): Promise<string> {
    if (current) return current;
    const passphrase = randomBytes(24).toString('base64url');
    await writeFile(this.file('passphrase'), passphrase, { mode: 0o600, flag: 'wx' });
    return passphrase;
  }

  /**
   * Moves a retired archive key's files to <keys>/retired/, out of the ring a node loads. They are
   * kept, not deleted: backups of the catalog from before the retirement still need them.
   */
  async retireKeyFile(file: string): Promise<string> {
    const retired = this.file('retired');
    await mkdir(retired, { recursive: true, mode: 0o700 });
    const stamp = Date.now();
    const moveOut = async (from: string) => {
      const to = join(retired, `${stamp}-${from.slice(from.lastIndexOf('/') + 1)}`);
      await rename(from, to);
      return to;
    };
    const publicFile = file.replace(/\.private\.asc$/, '.public.asc');
    if (publicFile !== file && existsSync(publicFile)) await moveOut(publicFile);
    return moveOut(file);
  }
}
