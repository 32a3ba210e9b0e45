// Errors the requesting side of the DIMSE layer (DimseClient, and DimseReplyChannel's store and
// eventReport) rejects with, so callers can tell "the peer said no" from "the link is gone" from
// "nothing negotiated fits" without parsing messages.

/** The peer answered our A-ASSOCIATE-RQ with an A-ASSOCIATE-RJ (values of PS3.8 9.3.4). */
export class AssociationRejectedError extends Error {
  override readonly name = 'AssociationRejectedError';
  constructor(
    /** 1 rejected-permanent, 2 rejected-transient. */
    readonly result: number,
    /** 1 service user, 2 ACSE provider, 3 presentation provider. */
    readonly source: number,
    readonly reason: number,
  ) {
    super(`association rejected (result ${result}, source ${source}, reason ${reason})`);
  }
}

/** The association ended (released, aborted, dropped) before the request could complete. */
export class AssociationClosedError extends Error {
  override readonly name = 'AssociationClosedError';
}

/** No answer in time: no A-ASSOCIATE-AC/RJ, A-RELEASE-RP or DIMSE response. The association is
 *  aborted, because after a lost response neither side knows what the other believes. */
export class DimseTimeoutError extends Error {
  override readonly name = 'DimseTimeoutError';
}

/**
 * No accepted presentation context lets us send this request: the SOP class (with that transfer
 * syntax, if one was asked for) was not negotiated, or not with the role the request needs.
 * Nothing was sent; the association is unaffected.
 */
export class NoPresentationContextError extends Error {
  override readonly name = 'NoPresentationContextError';
  constructor(
    readonly sopClassUid: string,
    readonly transferSyntaxUid?: string,
  ) {
    super(
      `no accepted presentation context for ${sopClassUid}` +
        (transferSyntaxUid ? ` in ${transferSyntaxUid}` : ''),
    );
  }
}
