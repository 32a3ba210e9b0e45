import { type ChainCrypto } from './chain-crypto.repository.js';
import { type Checkpoint, checkpointText } from './checkpoint.js';

export interface SignatureReport {
  checked: number;
  valid: number;
  /** Checkpoints whose signature does not hold, and why. */
  invalid: { seq: number; problem: string }[];
  /** Who signed the valid ones; `held`: this node holds that private key (null: not known here). */
  signers: { fingerprint: string; checkpoints: number; held: boolean | null }[];
}

/**
 * Checks each checkpoint's signature against the public key of the archive key it names: a
 * checkpoint whose text or signature was changed, or that names a key that is not an archive key,
 * is reported with the reason.
 */
export async function checkSignatures(
  crypto: ChainCrypto,
  checkpoints: Checkpoint[],
  keys: { fingerprint: string; armored: string; held?: boolean }[],
): Promise<SignatureReport> {
  const byFingerprint = new Map(keys.map((k) => [k.fingerprint.toLowerCase(), k]));
  const invalid: SignatureReport['invalid'] = [];
  const signers = new Map<string, SignatureReport['signers'][number]>();
  for (const c of checkpoints) {
    const key = byFingerprint.get(c.keyFingerprint.toLowerCase());
    if (!key) {
      invalid.push({
        seq: c.seq,
        problem: `is signed by ${c.keyFingerprint}, which is not one of the archive's keys`,
      });
      continue;
    }
    const result = await crypto.verifySignature(checkpointText(c), c.signature, key.armored);
    if (!result.ok) {
      invalid.push({
        seq: c.seq,
        problem: `has a signature that does not verify with the key ${c.keyFingerprint} (${result.reason})`,
      });
    } else if (result.fingerprint.toLowerCase() !== c.keyFingerprint.toLowerCase()) {
      invalid.push({
        seq: c.seq,
        problem: `names the key ${c.keyFingerprint}, but the key given for it is ${result.fingerprint}`,
      });
    } else {
      const s = signers.get(result.fingerprint) ?? {
        fingerprint: result.fingerprint,
        checkpoints: 0,
        held: key.held ?? null,
      };
      s.checkpoints++;
      signers.set(result.fingerprint, s);
    }
  }
  return {
    checked: checkpoints.length,
    valid: checkpoints.length - invalid.length,
    invalid,
    signers: [...signers.values()],
  };
}
