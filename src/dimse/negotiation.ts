// Presentation context and role negotiation (PS3.7 D.3.3, PS3.8 9.3.3): judging an incoming
// A-ASSOCIATE-RQ, and for DimseClient, proposing contexts and reading what the A-ASSOCIATE-AC
// granted. Kept apart from the state machines because it is pure policy.

import {
  type AssociateAc,
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  IMPLICIT_VR_LITTLE_ENDIAN,
  MAX_PRESENTATION_CONTEXTS,
  type PresentationContextAnswer,
  type PresentationContextProposal,
  PresentationContextResult,
  type RoleSelection,
  VERIFICATION_SOP_CLASS,
} from './pdu.js';
import { type AssociationDecision } from './types.js';

export interface AcceptedContext {
  abstractSyntax: string;
  transferSyntax: string;
  /**
   * The roles *we* play for the SOP class on this context (PS3.7 D.3.3.4). scu: we may send its
   * requests (C-STORE sub-operations of a C-GET, to a requester that took the SCP role). scp: we
   * answer its requests and may send what its SCP sends (N-EVENT-REPORT of Storage Commitment).
   */
  weAreScu: boolean;
  weAreScp: boolean;
}

export interface NegotiationOutcome {
  answers: PresentationContextAnswer[];
  /** Indexed by presentation context ID; undefined for rejected or unknown IDs. */
  accepted: (AcceptedContext | undefined)[];
  roleReplies: RoleSelection[];
}

/** No role selection item: the requester is SCU and we are SCP (PS3.7 D.3.3.4). */
const DEFAULT_ROLES: RoleSelection = { sopClassUid: '', scuRole: true, scpRole: false };

/**
 * The Storage SOP class root (PS3.4 B.5): the SOP classes whose SCP role a requester gets by
 * default, i.e. when DimseHandlers.acceptsRequesterScpRole is not given.
 */
export const STORAGE_SOP_CLASS_ROOT = '1.2.840.10008.5.1.4.1.1.';

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
 *
 * Role selection (PS3.7 D.3.3.4), per SOP class the requester sent an item for:
 * - its SCU role (we are SCP) is accepted whenever proposed: accepting the context means that;
 * - its SCP role (we become SCU) only where acceptsRequesterScpRole says so: the storage SOP
 *   classes a C-GET SCU proposes, so that we may send the C-STORE sub-operations back. We decide
 *   per SOP class, not by looking for a C-GET context in the same request: a C-GET may be
 *   negotiated without role items for it, and accepting a role only permits, it never obliges.
 * A requester left with no role we accept gets that SOP class's contexts rejected (user rejection).
 * Without an item the default roles hold: the requester is SCU, we are SCP.
 */
export function negotiatePresentationContexts(
  rq: AssociateRq,
  acceptsAbstractSyntax: (uid: string) => boolean,
  acceptsRequesterScpRole: (uid: string) => boolean = () => false,
): NegotiationOutcome {
  const roles = new Map<string, RoleSelection>();
  for (const r of rq.userInfo.roleSelections) {
    // One item per SOP class (PS3.7 D.3.3.4); should a requester repeat one, the first counts.
    if (!roles.has(r.sopClassUid)) {
      roles.set(r.sopClassUid, {
        sopClassUid: r.sopClassUid,
        scuRole: r.scuRole,
        scpRole: r.scpRole && acceptsRequesterScpRole(r.sopClassUid),
      });
    }
  }
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
    // The reply we would send for this SOP class: requester SCU = we SCP, requester SCP = we SCU.
    const role = roles.get(pc.abstractSyntax) ?? DEFAULT_ROLES;
    if (result === PresentationContextResult.Acceptance && !role.scuRole && !role.scpRole) {
      result = PresentationContextResult.UserRejection;
    }
    if (result === PresentationContextResult.Acceptance) {
      accepted[pc.id] = {
        abstractSyntax: pc.abstractSyntax,
        transferSyntax,
        weAreScu: role.scpRole,
        weAreScp: role.scuRole,
      };
      acceptedSopClasses.add(pc.abstractSyntax);
    }
    answers.push({ id: pc.id, result, transferSyntax });
  }

  const roleReplies: RoleSelection[] = [];
  for (const [uid, reply] of roles) {
    if (acceptedSopClasses.has(uid)) roleReplies.push(reply);
  }
  return { answers, accepted, roleReplies };
}

// ---------------------------------------------------------------------------------------------
// Requestor side (DimseClient)

/** A presentation context a requestor wants, with the roles it wants to play for the SOP class
 *  (absent: the default, SCU only). */
export interface ContextRequest {
  abstractSyntax: string;
  transferSyntaxes: string[];
  role?: { scu: boolean; scp: boolean };
}

/**
 * The presentation contexts and role items of an A-ASSOCIATE-RQ: one context per request, IDs
 * 1, 3, 5... in order; one role item per SOP class that asks for non-default roles (PS3.7
 * D.3.3.4 allows one per SOP class, so two requests of one class must agree on its roles).
 */
export function proposeContexts(requests: readonly ContextRequest[]): {
  contexts: PresentationContextProposal[];
  roleSelections: RoleSelection[];
} {
  if (requests.length === 0 || requests.length > MAX_PRESENTATION_CONTEXTS) {
    throw new RangeError(`propose 1 to ${MAX_PRESENTATION_CONTEXTS} presentation contexts`);
  }
  const roles = new Map<string, RoleSelection>();
  const contexts = requests.map((r, i) => {
    if (r.transferSyntaxes.length === 0) {
      throw new RangeError(`no transfer syntax proposed for ${r.abstractSyntax}`);
    }
    const role = r.role ?? { scu: true, scp: false };
    const item = { sopClassUid: r.abstractSyntax, scuRole: role.scu, scpRole: role.scp };
    const earlier = roles.get(r.abstractSyntax);
    if (earlier !== undefined && (earlier.scuRole !== role.scu || earlier.scpRole !== role.scp)) {
      throw new RangeError(`conflicting roles proposed for ${r.abstractSyntax}`);
    }
    roles.set(r.abstractSyntax, item);
    return {
      id: 2 * i + 1,
      abstractSyntax: r.abstractSyntax,
      transferSyntaxes: r.transferSyntaxes,
    };
  });
  const roleSelections = [...roles.values()].filter((r) => !r.scuRole || r.scpRole);
  return { contexts, roleSelections };
}

/**
 * What an A-ASSOCIATE-AC granted us, indexed by presentation context ID: contexts accepted with a
 * transfer syntax we proposed, and our roles on them. A role item the acceptor answered: the
 * roles both agreed on. One it left unanswered (it ignores role selection, which PS3.7 D.3.3.4
 * allows): the default SCU role, plus the SCP role if we asked for it, because such peers still
 * expect what they accepted the context for (an N-EVENT-REPORT from a Storage Commitment SCP).
 */
export function acceptedByPeer(
  proposed: readonly PresentationContextProposal[],
  askedRoles: readonly RoleSelection[],
  ac: AssociateAc,
): (AcceptedContext | undefined)[] {
  const byId = new Map(proposed.map((pc) => [pc.id, pc]));
  const asked = new Map(askedRoles.map((r) => [r.sopClassUid, r]));
  const replies = new Map(ac.userInfo.roleSelections.map((r) => [r.sopClassUid, r]));
  const accepted = new Array<AcceptedContext | undefined>(256);
  for (const answer of ac.presentationContexts) {
    const pc = byId.get(answer.id);
    if (
      pc === undefined ||
      answer.result !== PresentationContextResult.Acceptance ||
      !pc.transferSyntaxes.includes(answer.transferSyntax)
    ) {
      continue;
    }
    const ask = asked.get(pc.abstractSyntax);
    const reply = replies.get(pc.abstractSyntax);
    accepted[pc.id] = {
      abstractSyntax: pc.abstractSyntax,
      transferSyntax: answer.transferSyntax,
      weAreScu: ask === undefined || reply === undefined || (ask.scuRole && reply.scuRole),
      weAreScp: ask !== undefined && ask.scpRole && (reply === undefined || reply.scpRole),
    };
  }
  return accepted;
}
