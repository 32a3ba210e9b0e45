import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredKeyMaterial {
  armoredPrivate: string;
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
        passphrase,
        passphraseGenerated,
        dedupSecret,
        generated: false,
      };
    }
    const privateFile = this.file('archive.private.asc');
    if (existsSync(privateFile)) {
      return {
        armoredPrivate: await readFile(privateFile, 'utf8'),
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
      passphrase,
      passphraseGenerated,
      dedupSecret,
      generated: true,
    };
  }

  async readFileText(path: string): Promise<string> {
    return readFile(path, 'utf8');
  }
}
