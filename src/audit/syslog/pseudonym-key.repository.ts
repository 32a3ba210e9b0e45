import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Pseudonymizer } from './pseudonymize.js';

/** Domain separation: the pseudonym key is the dedup secret's HMAC of this label, never the secret. */
const LABEL = 'strata/audit-syslog-pseudonym/v1';

/**
 * The key of the syslog output's pseudonyms, derived from the archive's dedup secret
 * (<data dir>/keys/dedup.secret, which the storage context creates on first start and which every
 * node of a cluster shares): so every node gives a patient the same pseudonym, there is no second
 * secret to back up, and the derived key reveals nothing of the secret it comes from.
 */
export class PseudonymKeyRepository {
  constructor(private readonly keysDir: string) {}

  async pseudonymizer(): Promise<Pseudonymizer> {
    const file = join(this.keysDir, 'dedup.secret');
    const secret = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (secret.length < 16) throw new Error(`${file} does not hold a usable secret`);
    const key = createHmac('sha256', secret).update(LABEL).digest();
    // 128 bits of HMAC-SHA256: collisions are out of reach, and the ID stays short.
    return (patientId) =>
      `PSEUDO-${createHmac('sha256', key).update(patientId, 'utf8').digest('hex').slice(0, 32)}`;
  }
}
