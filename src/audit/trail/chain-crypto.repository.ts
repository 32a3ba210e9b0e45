import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';

/** The link before the first row of the trail. */
export const GENESIS_HASH = Buffer.alloc(32);

/**
 * The audit context's only use of crypto libraries: the chain's SHA-256 links and the OpenPGP
 * verification of checkpoint signatures. Verification lives here rather than in the storage
 * context's OpenPGP repository because it must also run where there is no archive, database or
 * key folder: `strata audit verify --bundle` on an auditor's machine.
 */
export class ChainCrypto {
  private readonly keys = new Map<string, Promise<openpgp.PublicKey | null>>();

  /**
   * A row's hash as strata_audit_append computes it (AuditTrail1764300011000):
   * sha256(prev_hash || seq as 8 bytes big-endian || canonical text in UTF-8).
   */
  linkHash(prev: Buffer, seq: number, canonical: string): Buffer {
    const position = Buffer.allocUnsafe(8);
    position.writeBigInt64BE(BigInt(seq));
    return createHash('sha256').update(prev).update(position).update(canonical, 'utf8').digest();
  }

  /** The hash of rows appended before that migration: sha256(prev_hash || canonical text). */
  legacyLinkHash(prev: Buffer, canonical: string): Buffer {
    return createHash('sha256').update(prev).update(canonical, 'utf8').digest();
  }

  /**
   * Whether `signature` (armored, detached) is a valid signature of `text` by the armored public
   * key `armoredKey`, and which key it is; a reason when not.
   */
  async verifySignature(
    text: string,
    signature: string,
    armoredKey: string,
  ): Promise<{ ok: true; fingerprint: string } | { ok: false; reason: string }> {
    const key = await this.readKey(armoredKey);
    if (!key) return { ok: false, reason: 'the public key cannot be read' };
    let parsed: openpgp.Signature;
    try {
      parsed = await openpgp.readSignature({ armoredSignature: signature });
    } catch (error) {
      return { ok: false, reason: `not an OpenPGP signature (${(error as Error).message})` };
    }
    try {
      const message = await openpgp.createMessage({ text });
      const result = await openpgp.verify({ message, signature: parsed, verificationKeys: key });
      const first = result.signatures[0];
      if (!first) return { ok: false, reason: 'the signature packet is empty' };
      await first.verified;
      return { ok: true, fingerprint: key.getFingerprint() };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }

  /** The fingerprint of an armored public key, or null if it is not one. */
  async fingerprintOf(armoredKey: string): Promise<string | null> {
    return (await this.readKey(armoredKey))?.getFingerprint() ?? null;
  }

  private readKey(armored: string): Promise<openpgp.PublicKey | null> {
    let key = this.keys.get(armored);
    if (!key) {
      key = openpgp
        .readKey({ armoredKey: armored })
        .then((k) => k.toPublic())
        .catch(() => null);
      this.keys.set(armored, key);
    }
    return key;
  }
}
