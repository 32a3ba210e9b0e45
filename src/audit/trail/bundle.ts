import { type AuditRow } from '../audit-event.js';
import { type ChainRow } from './chain-verifier.js';
import { type Checkpoint } from './checkpoint.js';

export const BUNDLE_FORMAT = 'strata-audit-bundle/1';

/** How to check a bundle by hand: written into every bundle. */
export const BUNDLE_HASHING =
  'hash = sha256(prevHash || seq as 8-byte big-endian integer || UTF-8 of the canonical text), ' +
  'where the canonical text is the JSON array [at, actor, actorHost, role, action, outcome, ' +
  'patientId, studyInstanceUid, instances, detail] as JavaScript JSON.stringify writes it, detail ' +
  'with its object keys sorted (JavaScript property order: integer-like keys first, in numeric order, ' +
  'then the others by UTF-16 code unit); rows appended before positions were hashed omit the seq. ' +
  'prevHash of each row is the hash of the row before (32 zero bytes before seq 1). A checkpoint ' +
  'signs, as an OpenPGP text signature, "strata-audit-checkpoint/1\\nseq: <seq>\\nhash: <hex>\\nat: <at>\\n".';

/** An export of part of the audit trail that can be checked without the archive. */
export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  exportedAt: string;
  /** The time range asked for, and the chain positions of its first and last rows. */
  range: {
    from: string | null;
    to: string | null;
    firstSeq: number | null;
    lastSeq: number | null;
  };
  hashing: string;
  /** The link before the first row: the previous row's position and hash. */
  previous: { seq: number; hash: string } | null;
  /** Signed checkpoints from the first row to the first checkpoint at or after the last row. */
  checkpoints: Checkpoint[];
  /** The archive's public keys that signed them (armored). */
  publicKeys: { fingerprint: string; armored: string }[];
  rows: AuditRow[];
  /** The rows after the range up to the covering checkpoint: the chain from the last row to it. */
  continuation: AuditRow[];
}

export function toAuditRow(r: ChainRow): AuditRow {
  return { ...r, prevHash: r.prevHash.toString('hex'), hash: r.hash.toString('hex') };
}

export function toChainRow(r: AuditRow): ChainRow {
  return { ...r, prevHash: Buffer.from(r.prevHash, 'hex'), hash: Buffer.from(r.hash, 'hex') };
}
