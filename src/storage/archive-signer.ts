import { type ArchiveSigner } from '../audit/index.js';
import { type KeyService } from './key.service.js';

/** The archive key as the audit trail signs its checkpoints with it (audit's ARCHIVE_SIGNER port). */
export function archiveSigner(keys: KeyService): ArchiveSigner {
  return {
    sign: (text) => keys.sign(text),
    publicKeys: () => keys.ring.archivePublicKeys(),
  };
}
