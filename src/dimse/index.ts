// Public surface of the dimse context: the server, its handler contract, and the status and
// command constants handlers need to build answers. PDU codecs stay internal.

export { DimseServer } from './dimse-server.js';
export { DimseStatus, statusCategory, type DimseStatusCategory } from './status.js';
export { CommandField, type DimseCommand } from './command.js';
export { VERIFICATION_SOP_CLASS } from './pdu.js';
export type {
  AssociationCloseReason,
  AssociationDecision,
  AssociationInfo,
  AssociationStats,
  DimseHandlers,
  DimseLogger,
  DimseReplyChannel,
  DimseResponse,
  DimseResult,
  DimseServerOptions,
  OtherCommandRequest,
  StoreRequest,
} from './types.js';
