// DIMSE status codes (PS3.7 Annex C) that Strata sends or has to recognise. Named constants keep
// handlers from sprinkling magic numbers, and statusCategory() lets callers count outcomes the
// way PS3.7 C.1 groups them without re-deriving the ranges.

export const DimseStatus = {
  Success: 0x0000,
  /** Warning: attribute list error (N- services). */
  AttributeListError: 0x0107,
  /** Warning: coercion of data elements (C-STORE). */
  CoercionOfDataElements: 0xb000,
  /** Warning: elements discarded (C-STORE). */
  ElementsDiscarded: 0xb006,
  /** Warning: data set does not match SOP class (C-STORE). */
  DataSetDoesNotMatchSopClassWarning: 0xb007,
  /** Failure: processing failure (the generic "something broke on our side"). */
  ProcessingFailure: 0x0110,
  /** Failure: duplicate SOP instance (N-CREATE). */
  DuplicateSopInstance: 0x0111,
  /** Failure: no such SOP class / SOP class not supported. */
  SopClassNotSupported: 0x0122,
  /** Failure: refused, not authorized (PS3.7 C.5.x general status: the peer may not do this). */
  NotAuthorized: 0x0124,
  /** Failure: unrecognized operation (DIMSE command we do not implement). */
  UnrecognizedOperation: 0x0211,
  /** Failure: refused, out of resources (C-STORE 0xA7xx). */
  OutOfResources: 0xa700,
  /** Failure: out of resources, unable to calculate number of matches (C-MOVE/C-GET). */
  OutOfResourcesSubOperations: 0xa701,
  /** Failure: move destination unknown (C-MOVE). */
  MoveDestinationUnknown: 0xa801,
  /** Failure: data set does not match SOP class (C-STORE 0xA9xx). */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** Failure: cannot understand (C-STORE 0xCxxx). */
  CannotUnderstand: 0xc000,
  /** Cancel: matching/sub-operations terminated due to C-CANCEL. */
  Cancel: 0xfe00,
  /** Pending: more responses follow (C-FIND/C-MOVE/C-GET). */
  Pending: 0xff00,
  /** Pending: optional keys not supported (C-FIND). */
  PendingWarning: 0xff01,
} as const;

export type DimseStatusCategory = 'success' | 'warning' | 'failure' | 'cancel' | 'pending';

/** Classifies a status code per PS3.7 C.1 (success, warning, failure, cancel, pending). */
export function statusCategory(status: number): DimseStatusCategory {
  if (status === 0x0000) return 'success';
  if (status === 0xff00 || status === 0xff01) return 'pending';
  if (status === 0xfe00) return 'cancel';
  if (status === 0x0001 || status === 0x0107 || status === 0x0116) return 'warning';
  if (status >= 0xb000 && status <= 0xbfff) return 'warning';
  return 'failure';
}
