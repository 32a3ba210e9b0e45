import { type DimseReplyChannel, type DimseResponse, type OtherCommandRequest } from './types.js';

/**
 * A DIMSE service a context provides as SCP over the archive's one association listener:
 * C-FIND/C-MOVE/C-GET (retrieval), Storage Commitment (ingestion), ... C-ECHO and C-STORE stay
 * with the server and the ingestion pipeline.
 */
export interface DimseServiceHandler {
  /** Short name for logs ('query-retrieve', 'storage-commitment'). */
  readonly name: string;
  /** The abstract syntaxes (SOP classes) it serves: presentation contexts for them are accepted. */
  readonly sopClasses: readonly string[];
  /**
   * Handles a command on one of those SOP classes: the final response, or undefined for 0x0211
   * (unrecognized operation). Pending responses go through `reply.sendPending`.
   */
  handle(req: OtherCommandRequest, reply: DimseReplyChannel): Promise<DimseResponse | undefined>;
}

export class DuplicateDimseServiceError extends Error {}

/**
 * Where contexts register the DIMSE services they provide; the association listener asks it
 * which abstract syntaxes to accept and hands it every command other than C-ECHO and C-STORE.
 */
export class DimseServiceRegistry {
  private readonly bySopClass = new Map<string, DimseServiceHandler>();

  /** Throws DuplicateDimseServiceError when a SOP class is already served by another handler. */
  register(handler: DimseServiceHandler): void {
    for (const uid of handler.sopClasses) {
      const existing = this.bySopClass.get(uid);
      if (existing) {
        throw new DuplicateDimseServiceError(
          `SOP class ${uid} is served by both '${existing.name}' and '${handler.name}'`,
        );
      }
    }
    for (const uid of handler.sopClasses) this.bySopClass.set(uid, handler);
  }

  accepts(sopClassUid: string): boolean {
    return this.bySopClass.has(sopClassUid);
  }

  async dispatch(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> {
    const handler = this.bySopClass.get(req.abstractSyntaxUid);
    return handler ? handler.handle(req, reply) : undefined;
  }
}
