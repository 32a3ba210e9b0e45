/** A signed statement of the audit chain's head at a position. */
export interface Checkpoint {
  /** The chain position signed (the seq of the row that was the head). */
  seq: number;
  /** That row's hash, hex. */
  hash: string;
  /** When it was signed (ISO 8601, UTC, milliseconds). */
  at: string;
  /** Armored detached OpenPGP signature of checkpointText(). */
  signature: string;
  keyFingerprint: string;
}

/**
 * The text a checkpoint's signature covers: line-oriented and free of JSON subtleties, so an
 * auditor can rebuild it by hand and check the signature with any OpenPGP tool (`gpg --verify`).
 */
export function checkpointText(c: Pick<Checkpoint, 'seq' | 'hash' | 'at'>): string {
  return `strata-audit-checkpoint/1\nseq: ${c.seq}\nhash: ${c.hash}\nat: ${c.at}\n`;
}
