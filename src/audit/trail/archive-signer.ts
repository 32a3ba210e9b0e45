/**
 * The port through which the audit trail signs its checkpoints with the archive's OpenPGP key. The
 * keys live in the storage context, which itself records audit events (so audit cannot import
 * it): storage provides this token, and the composition root hands that module to
 * AuditTrailModule.forRoot.
 */
export interface ArchiveSigner {
  /** A detached armored signature of `text` by the current archive key, and that key's fingerprint. */
  sign(text: string): Promise<{ signature: string; fingerprint: string }>;
  /**
   * The archive keys a checkpoint may have been signed with (current, older and retired archive
   * keys), armored public halves. `held`: this node holds the private key (read from the key
   * folder, not only from the catalog's key ring, which a database superuser could add to).
   */
  publicKeys(): Promise<ArchivePublicKey[]>;
}

export interface ArchivePublicKey {
  fingerprint: string;
  armored: string;
  held: boolean;
}

export const ARCHIVE_SIGNER = Symbol('ARCHIVE_SIGNER');
