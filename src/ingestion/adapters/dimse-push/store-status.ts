import { type IngestResult } from '../../ingest-request.js';

/** The C-STORE response for an ingest result (PS3.4 Table GG.4-1 / B.2-1). */
export function storeStatus(result: IngestResult): { status: number; errorComment?: string } {
  if (result.ok) {
    return result.outcome === 'kept-first'
      ? { status: 0xb000, errorComment: 'Same UID with other content exists; first kept' }
      : { status: 0x0000 };
  }
  const comment = result.message.slice(0, 64);
  switch (result.reason) {
    case 'sop-class-not-supported':
      return { status: 0x0122, errorComment: comment };
    case 'uid-mismatch':
    case 'study-mismatch':
      return { status: 0xa900, errorComment: comment };
    case 'duplicate-rejected':
      return { status: 0x0111, errorComment: comment };
    case 'storage-failure':
    case 'aborted':
      return { status: 0xa700, errorComment: comment };
    default:
      // Truncated, malformed, oversized headers, bad UIDs: the SCP cannot understand the dataset.
      return { status: 0xc000, errorComment: comment };
  }
}
