// Public surface of the dimse context: the server and client, the service registry other contexts
// plug their DIMSE services into, the handler contracts, errors, and the status and command
// constants handlers need to build answers. PDU codecs stay internal.

export { DimseServer } from './dimse-server.js';
export {
  DimseClient,
  type DimseClientCloseReason,
  type DimseClientOptions,
} from './dimse-client.js';
export { DimseModule } from './dimse.module.js';
export {
  BCP195_TLS12_CIPHERS,
  type AssociationTls,
  type DimseClientTls,
  type DimseServerTls,
} from './tls.js';
export {
  DimseServiceRegistry,
  DuplicateDimseServiceError,
  type DimseServiceHandler,
} from './service-registry.js';
export {
  AssociationClosedError,
  AssociationRejectedError,
  DimseTimeoutError,
  NoPresentationContextError,
} from './errors.js';
export { DimseStatus, statusCategory, type DimseStatusCategory } from './status.js';
export { CommandField, type DimseCommand } from './command.js';
export { type ContextRequest } from './negotiation.js';
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
  EventReportRequest,
  OtherCommandRequest,
  OutgoingQueryRequest,
  OutgoingStoreRequest,
  QueryResponse,
  StoreRequest,
} from './types.js';
