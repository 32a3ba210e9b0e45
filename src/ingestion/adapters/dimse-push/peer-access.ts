import { type DicomOperation, type StrataConfig } from '../../../config/index.js';
import { CommandField, DimseStatus, type DimseResult } from '../../../dimse/index.js';

/** The operation a command asks for; null for commands that need no right (C-ECHO, unknown). */
export function operationOf(commandField: number): DicomOperation | null {
  switch (commandField) {
    case CommandField.CStoreRq:
      return 'store';
    case CommandField.CFindRq:
      return 'query';
    case CommandField.CMoveRq:
      return 'move';
    case CommandField.CGetRq:
      return 'get';
    // Storage Commitment (push) is the only N-ACTION the archive serves.
    case CommandField.NActionRq:
      return 'commit';
    default:
      return null;
  }
}

const COMMAND_NAMES: Record<DicomOperation, string> = {
  store: 'C-STORE',
  query: 'C-FIND',
  move: 'C-MOVE',
  get: 'C-GET',
  commit: 'N-ACTION',
};

export function commandName(operation: DicomOperation): string {
  return COMMAND_NAMES[operation];
}

/**
 * What a calling AE title may do: its dicom.peers entry's `allow`, else dicom.unknownPeers'
 * (both default to everything). An AE title is what the peer says it is: these rights sort
 * honest peers apart, and the network must keep the others out.
 */
export function allowedOperations(
  dicom: Pick<StrataConfig['dicom'], 'peers' | 'unknownPeerAllow'>,
  callingAet: string,
): readonly DicomOperation[] {
  return dicom.peers[callingAet]?.allow ?? dicom.unknownPeerAllow;
}

/**
 * The answer to a command the peer may not give: 0124 "Refused: Not Authorized" (a general status
 * of PS3.7 Annex C, valid for C-STORE, C-FIND, C-MOVE, C-GET and N-ACTION alike), with a comment
 * that names the operation and nothing of the request.
 */
export function notAuthorized(operation: DicomOperation): DimseResult {
  return {
    status: DimseStatus.NotAuthorized,
    errorComment: `${commandName(operation)} not authorized for this AE title`,
  };
}
