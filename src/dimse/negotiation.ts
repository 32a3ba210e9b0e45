// Presentation context and role negotiation for an incoming A-ASSOCIATE-RQ (PS3.7 D.3.3,
// PS3.8 9.3.3). Kept apart from the association state machine because it is pure policy.

import {
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  IMPLICIT_VR_LITTLE_ENDIAN,
  type PresentationContextAnswer,
  PresentationContextResult,
  type RoleSelection,
  VERIFICATION_SOP_CLASS,
} from './pdu.js';
import { type AssociationDecision } from './types.js';

export interface AcceptedContext {
  abstractSyntax: string;
  transferSyntax: string;
}

export interface NegotiationOutcome {
  answers: PresentationContextAnswer[];
  /** Indexed by presentation context ID; undefined for rejected or unknown IDs. */
  accepted: (AcceptedContext | undefined)[];
  roleReplies: RoleSelection[];
}

/** Rejections that do not need the application's opinion: wrong protocol, wrong context name. */
export function basicAssociationChecks(rq: AssociateRq): AssociationDecision | undefined {
  if ((rq.protocolVersion & 0x0001) === 0) {
    return {
      accept: false,
      result: 1,
      source: 3,
      reason: 2,
      logReason: 'protocol version not supported',
    };
  }
  if (rq.applicationContext !== DICOM_APPLICATION_CONTEXT) {
    return {
      accept: false,
      result: 1,
      source: 1,
      reason: 2,
      logReason: 'application context name not supported',
    };
  }
  if (rq.presentationContexts.length === 0) {
    return {
      accept: false,
      result: 1,
      source: 1,
      reason: 1,
      logReason: 'no presentation contexts proposed',
    };
  }
  return undefined;
}

/**
 * Judges each proposed presentation context:
 * - Verification: accepted, Implicit VR LE when proposed (every SCU can do it) else the first TS;
 * - other abstract syntaxes the application accepts: the FIRST proposed TS, because the archive
 *   stores what it is given and never transcodes;
 * - anything else: rejected with reason 3 (abstract syntax not supported).
 * Role selection: we only ever act as SCP, so a requestor that proposes only the SCP role for a
 * SOP class (C-GET style) gets that context rejected; otherwise we echo SCU=1/SCP=0.
 */
export function negotiatePresentationContexts(
  rq: AssociateRq,
  acceptsAbstractSyntax: (uid: string) => boolean,
): NegotiationOutcome {
  const roles = new Map(rq.userInfo.roleSelections.map((r) => [r.sopClassUid, r]));
  const answers: PresentationContextAnswer[] = [];
  const accepted: (AcceptedContext | undefined)[] = new Array<AcceptedContext | undefined>(256);
  const acceptedSopClasses = new Set<string>();

  for (const pc of rq.presentationContexts) {
    const syntaxes = pc.transferSyntaxes.filter((ts) => ts.length > 0);
    let result: number = PresentationContextResult.Acceptance;
    let transferSyntax = syntaxes[0] ?? '';
    if (syntaxes.length === 0) {
      result = PresentationContextResult.TransferSyntaxesNotSupported;
    } else if (pc.abstractSyntax === VERIFICATION_SOP_CLASS) {
      if (syntaxes.includes(IMPLICIT_VR_LITTLE_ENDIAN)) transferSyntax = IMPLICIT_VR_LITTLE_ENDIAN;
    } else if (!acceptsAbstractSyntax(pc.abstractSyntax)) {
      result = PresentationContextResult.AbstractSyntaxNotSupported;
    }
    const role = roles.get(pc.abstractSyntax);
    if (result === PresentationContextResult.Acceptance && role !== undefined && !role.scuRole) {
      result = PresentationContextResult.UserRejection;
    }
    if (result === PresentationContextResult.Acceptance) {
      accepted[pc.id] = { abstractSyntax: pc.abstractSyntax, transferSyntax };
      acceptedSopClasses.add(pc.abstractSyntax);
    }
    answers.push({ id: pc.id, result, transferSyntax });
  }

  const roleReplies: RoleSelection[] = [];
  for (const uid of roles.keys()) {
    if (acceptedSopClasses.has(uid))
      roleReplies.push({ sopClassUid: uid, scuRole: true, scpRole: false });
  }
  return { answers, accepted, roleReplies };
}
