import { Readable, type Transform } from 'node:stream';
import * as openpgp from 'openpgp';
import { createSeipdV2Decryptor } from './seipd-v2-reader.js';
import { createSeipdV2Encryptor, SeipdV2Sealer } from './seipd-v2-writer.js';

/** Always AEAD (SEIPDv2): without it openpgp.js silently writes SEIPDv1, whose decrypt buffers all. */
const AEAD = { aeadProtect: true } as const;

export interface SessionKey {
  data: Uint8Array;
  algorithm: string;
  aeadAlgorithm: string;
}

export interface ArchiveKeyPair {
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.PublicKey;
  fingerprint: string;
}

function isNativeAead(sk: SessionKey): boolean {
  return sk.algorithm === 'aes256' && sk.aeadAlgorithm === 'gcm' && sk.data.length === 32;
}

/** Pipes with error propagation both ways: a failed source fails the output, and vice versa. */
function pipeThrough(source: Readable, transform: Transform): Readable {
  source.on('error', (e) => transform.destroy(e));
  transform.on('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  return source.pipe(transform);
}

/** The only code that calls openpgp.js: key generation, session keys, streaming AEAD. */
export class OpenPgpRepository {
  async generateKeyPair(
    passphrase: string,
  ): Promise<{ armoredPrivate: string; armoredPublic: string }> {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'Strata archive key' }],
      passphrase,
      format: 'armored',
      config: AEAD,
    });
    return { armoredPrivate: privateKey, armoredPublic: publicKey };
  }

  async readKeyPair(armoredPrivate: string, passphrase: string | null): Promise<ArchiveKeyPair> {
    let privateKey = await openpgp.readPrivateKey({ armoredKey: armoredPrivate });
    if (!privateKey.isDecrypted()) {
      if (!passphrase)
        throw new Error('the archive private key is protected and no passphrase is set');
      privateKey = await openpgp.decryptKey({ privateKey, passphrase });
    }
    return {
      privateKey,
      publicKey: privateKey.toPublic(),
      fingerprint: privateKey.getFingerprint(),
    };
  }

  /** An armored detached signature of a UTF-8 text. */
  async signDetached(text: string, signingKey: openpgp.PrivateKey): Promise<string> {
    const message = await openpgp.createMessage({ text });
    return openpgp.sign({ message, signingKeys: signingKey, detached: true, format: 'armored' });
  }

  /** Whether an armored detached signature of `text` verifies against one of `keys`. */
  async verifyDetached(text: string, armored: string, keys: openpgp.PublicKey[]): Promise<boolean> {
    try {
      const signature = await openpgp.readSignature({ armoredSignature: armored });
      const message = await openpgp.createMessage({ text });
      const result = await openpgp.verify({ message, signature, verificationKeys: keys });
      await result.signatures[0]!.verified;
      return true;
    } catch {
      return false;
    }
  }

  armor(key: openpgp.PublicKey): string {
    return key.armor();
  }

  /**
   * A key to wrap study session keys for (an escrow key, another node's archive key), checked:
   * it must parse, have a valid encryption key, and use X25519/X448 (RSA would cost ≈ 23 ms per
   * unwrap and is not what the archive's design allows). A private key is reduced to its public
   * half (`hadPrivate` says so, for a warning).
   */
  async readRecipientKey(armored: string): Promise<{
    key: openpgp.PublicKey;
    fingerprint: string;
    armored: string;
    hadPrivate: boolean;
  }> {
    let parsed: openpgp.Key;
    try {
      parsed = await openpgp.readKey({ armoredKey: armored });
    } catch (error) {
      throw new Error(`not an armored OpenPGP key: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const key = parsed.toPublic();
    let encryptionKey: Awaited<ReturnType<openpgp.PublicKey['getEncryptionKey']>>;
    try {
      encryptionKey = await key.getEncryptionKey();
    } catch (error) {
      throw new Error(`the key has no usable encryption key: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const info = encryptionKey.getAlgorithmInfo();
    const curve = 'curve' in info ? String(info.curve) : '';
    const modern =
      info.algorithm === 'x25519' ||
      info.algorithm === 'x448' ||
      (info.algorithm === 'ecdh' && /25519/.test(curve));
    if (!modern) {
      throw new Error(
        `the key's encryption key is ${info.algorithm}${curve ? ` (${curve})` : ''}; ` +
          'the archive wraps for X25519 or X448 keys only (e.g. gpg --quick-gen-key NAME future-default)',
      );
    }
    return {
      key,
      fingerprint: key.getFingerprint(),
      armored: key.armor(),
      hadPrivate: parsed.isPrivate(),
    };
  }

  async generateSessionKey(recipient: openpgp.PublicKey): Promise<SessionKey> {
    const sk = await openpgp.generateSessionKey({ encryptionKeys: recipient, config: AEAD });
    return { data: sk.data, algorithm: sk.algorithm, aeadAlgorithm: sk.aeadAlgorithm ?? 'gcm' };
  }

  /** The PKESK packet that wraps `sk` for `recipient` (what the catalog keeps). */
  async wrapSessionKey(sk: SessionKey, recipient: openpgp.PublicKey): Promise<Uint8Array> {
    return openpgp.encryptSessionKey({
      data: sk.data,
      algorithm: sk.algorithm as openpgp.enums.symmetricNames,
      aeadAlgorithm: sk.aeadAlgorithm as openpgp.enums.aeadNames,
      encryptionKeys: recipient,
      format: 'binary',
      config: AEAD,
    });
  }

  async unwrapSessionKey(
    pkesk: Uint8Array,
    privateKey: openpgp.PrivateKey,
    algorithm: string,
    aeadAlgorithm: string,
  ): Promise<SessionKey> {
    const message = await openpgp.readMessage({ binaryMessage: pkesk });
    const [sk] = await openpgp.decryptSessionKeys({ message, decryptionKeys: privateKey });
    if (!sk) throw new Error('no session key could be unwrapped');
    // v6 PKESK packets carry no algorithm ids: take them from the catalog row.
    return { data: sk.data, algorithm: sk.algorithm ?? algorithm, aeadAlgorithm };
  }

  /**
   * Streams `plain` out as one SEIPDv2 packet under the session key (no public-key work). AES-256/GCM
   * keys (all the archive generates) go through our node:crypto writer, ≈ 4× faster than openpgp.js's
   * web streams and byte-compatible with them (seipd-v2-writer.spec.ts decrypts it with openpgp.js).
   */
  /**
   * A push-style encryptor for the session key when our native writer handles it (AES-256/GCM,
   * every key the archive generates); null otherwise (then use `encrypt`).
   */
  sealer(sk: SessionKey): SeipdV2Sealer | null {
    return isNativeAead(sk) ? new SeipdV2Sealer(sk.data) : null;
  }

  async encrypt(plain: Readable, sk: SessionKey): Promise<Readable> {
    if (isNativeAead(sk)) return pipeThrough(plain, createSeipdV2Encryptor(sk.data));
    const message = await openpgp.createMessage({
      binary: Readable.toWeb(plain) as unknown as ReadableStream<Uint8Array>,
      format: 'binary',
    });
    const encrypted = await openpgp.encrypt({
      message,
      sessionKey: {
        data: sk.data,
        algorithm: sk.algorithm as openpgp.enums.symmetricNames,
        aeadAlgorithm: sk.aeadAlgorithm as openpgp.enums.aeadNames,
      },
      format: 'binary',
      config: AEAD,
    });
    return Readable.fromWeb(encrypted as unknown as import('node:stream/web').ReadableStream);
  }

  /** Streams the plaintext of a SEIPDv2 object; authentication failures surface as stream errors. */
  async decrypt(object: Readable, sk: SessionKey): Promise<Readable> {
    if (isNativeAead(sk)) return pipeThrough(object, createSeipdV2Decryptor(sk.data));
    const message = await openpgp.readMessage({
      binaryMessage: Readable.toWeb(object) as unknown as ReadableStream<Uint8Array>,
    });
    const { data } = await openpgp.decrypt({
      message,
      sessionKeys: {
        data: sk.data,
        algorithm: sk.algorithm as openpgp.enums.symmetricNames,
        aeadAlgorithm: sk.aeadAlgorithm as openpgp.enums.aeadNames,
      },
      format: 'binary',
      config: AEAD,
    });
    return Readable.fromWeb(data as unknown as import('node:stream/web').ReadableStream);
  }
}
