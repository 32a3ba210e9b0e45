import { describe, expect, it } from 'vitest';
import {
  acceptedByPeer,
  basicAssociationChecks,
  negotiatePresentationContexts,
  proposeContexts,
} from './negotiation.js';
import { type AssociateAc, type AssociateRq, DICOM_APPLICATION_CONTEXT } from './pdu.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const VERIFICATION = '1.2.840.10008.1.1';
const ILE = '1.2.840.10008.1.2';
const ELE = '1.2.840.10008.1.2.1';
const JPEG_LS = '1.2.840.10008.1.2.4.80';

function rq(partial: Partial<AssociateRq> = {}): AssociateRq {
  return {
    protocolVersion: 1,
    calledAet: 'STRATA',
    callingAet: 'SCU',
    applicationContext: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [],
    userInfo: { maxPduLength: 16384, roleSelections: [] },
    ...partial,
  };
}

describe('negotiatePresentationContexts', () => {
  it('accepts Verification with Implicit VR LE when proposed, else the first TS', () => {
    const out = negotiatePresentationContexts(
      rq({
        presentationContexts: [
          { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [ELE, ILE] },
          { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [ELE] },
        ],
      }),
      () => false, // Verification does not depend on the application
    );
    expect(out.answers).toEqual([
      { id: 1, result: 0, transferSyntax: ILE },
      { id: 3, result: 0, transferSyntax: ELE },
    ]);
  });

  it('accepts the first proposed TS for accepted SOP classes and rejects others with reason 3', () => {
    const out = negotiatePresentationContexts(
      rq({
        presentationContexts: [
          { id: 1, abstractSyntax: CT, transferSyntaxes: [JPEG_LS, ELE, ILE] },
          { id: 3, abstractSyntax: MR, transferSyntaxes: [ELE] },
          { id: 5, abstractSyntax: CT, transferSyntaxes: [] },
        ],
      }),
      (uid) => uid === CT,
    );
    expect(out.answers).toEqual([
      { id: 1, result: 0, transferSyntax: JPEG_LS },
      { id: 3, result: 3, transferSyntax: ELE },
      { id: 5, result: 4, transferSyntax: '' },
    ]);
    expect(out.accepted[1]).toEqual({
      abstractSyntax: CT,
      transferSyntax: JPEG_LS,
      weAreScu: false,
      weAreScp: true,
    });
    expect(out.accepted[3]).toBeUndefined();
    expect(out.accepted[5]).toBeUndefined();
  });

  const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';
  const COMMITMENT = '1.2.840.10008.1.20.1';

  /** A getscu-like request: the GET context with default roles, storage contexts SCP-only. */
  function getRequest(extraRoles: AssociateRq['userInfo']['roleSelections'] = []): AssociateRq {
    return rq({
      presentationContexts: [
        { id: 1, abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [ELE, ILE] },
        { id: 3, abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
        { id: 5, abstractSyntax: CT, transferSyntaxes: [ILE] },
        { id: 7, abstractSyntax: MR, transferSyntaxes: [ELE] },
      ],
      userInfo: {
        maxPduLength: 0,
        roleSelections: [
          { sopClassUid: CT, scuRole: false, scpRole: true },
          { sopClassUid: MR, scuRole: false, scpRole: true },
          ...extraRoles,
        ],
      },
    });
  }

  it('accepts the SCP role of a C-GET requester where allowed, and records that we are SCU', () => {
    const out = negotiatePresentationContexts(
      getRequest(),
      () => true,
      (uid) => uid === CT,
    );
    // MR: the requester wants only the SCP role, which we do not grant: nothing left to accept.
    expect(out.answers.map((a) => a.result)).toEqual([0, 0, 0, 1]);
    expect(out.roleReplies).toEqual([{ sopClassUid: CT, scuRole: false, scpRole: true }]);
    expect(out.accepted[1]).toMatchObject({ weAreScu: false, weAreScp: true });
    expect(out.accepted[3]).toEqual({
      abstractSyntax: CT,
      transferSyntax: ELE,
      weAreScu: true,
      weAreScp: false,
    });
    expect(out.accepted[5]).toMatchObject({ transferSyntax: ILE, weAreScu: true, weAreScp: false });
    expect(out.accepted[7]).toBeUndefined();
  });

  it('grants no SCP role without a predicate: SCP-only proposals are rejected', () => {
    const out = negotiatePresentationContexts(getRequest(), () => true);
    expect(out.answers.map((a) => a.result)).toEqual([0, 1, 1, 1]);
    expect(out.roleReplies).toEqual([]);
  });

  it('answers a proposal of both roles with what it grants, and keeps the first item per class', () => {
    const out = negotiatePresentationContexts(
      rq({
        presentationContexts: [
          { id: 1, abstractSyntax: CT, transferSyntaxes: [ELE] },
          { id: 3, abstractSyntax: MR, transferSyntaxes: [ELE] },
        ],
        userInfo: {
          maxPduLength: 0,
          roleSelections: [
            { sopClassUid: CT, scuRole: true, scpRole: true },
            { sopClassUid: MR, scuRole: true, scpRole: true },
            { sopClassUid: MR, scuRole: false, scpRole: false }, // a repeat: ignored
          ],
        },
      }),
      () => true,
      (uid) => uid === CT,
    );
    expect(out.answers.map((a) => a.result)).toEqual([0, 0]);
    expect(out.roleReplies).toEqual([
      { sopClassUid: CT, scuRole: true, scpRole: true },
      { sopClassUid: MR, scuRole: true, scpRole: false },
    ]);
    expect(out.accepted[1]).toMatchObject({ weAreScu: true, weAreScp: true });
    expect(out.accepted[3]).toMatchObject({ weAreScu: false, weAreScp: true });
  });

  it('accepts Storage Commitment with the default roles when the application serves it', () => {
    const out = negotiatePresentationContexts(
      rq({
        presentationContexts: [{ id: 1, abstractSyntax: COMMITMENT, transferSyntaxes: [ILE] }],
      }),
      (uid) => uid === COMMITMENT,
    );
    expect(out.answers).toEqual([{ id: 1, result: 0, transferSyntax: ILE }]);
    expect(out.accepted[1]).toMatchObject({ weAreScu: false, weAreScp: true });
    expect(out.roleReplies).toEqual([]);
  });

  it('replies to role items only for SOP classes it accepted a context of', () => {
    const out = negotiatePresentationContexts(
      getRequest(),
      (uid) => uid !== CT,
      () => true,
    );
    expect(out.answers.map((a) => a.result)).toEqual([0, 3, 3, 0]);
    expect(out.roleReplies).toEqual([{ sopClassUid: MR, scuRole: false, scpRole: true }]);
  });
});

describe('basicAssociationChecks', () => {
  const pcs = [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] }];
  it('passes a well-formed request', () => {
    expect(basicAssociationChecks(rq({ presentationContexts: pcs }))).toBeUndefined();
  });
  it('rejects a wrong protocol version, application context, or no contexts', () => {
    expect(
      basicAssociationChecks(rq({ protocolVersion: 2, presentationContexts: pcs })),
    ).toMatchObject({
      accept: false,
      source: 3,
      reason: 2,
    });
    expect(
      basicAssociationChecks(rq({ applicationContext: '1.2.3', presentationContexts: pcs })),
    ).toMatchObject({
      accept: false,
      source: 1,
      reason: 2,
    });
    expect(basicAssociationChecks(rq())).toMatchObject({ accept: false, reason: 1 });
  });
});

describe('requestor side', () => {
  const COMMITMENT = '1.2.840.10008.1.20.1';

  it('proposes one context per request with odd IDs, and role items only where not default', () => {
    const { contexts, roleSelections } = proposeContexts([
      { abstractSyntax: CT, transferSyntaxes: [JPEG_LS] },
      { abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
      { abstractSyntax: COMMITMENT, transferSyntaxes: [ILE], role: { scu: false, scp: true } },
      { abstractSyntax: MR, transferSyntaxes: [ELE], role: { scu: true, scp: false } },
    ]);
    expect(contexts).toEqual([
      { id: 1, abstractSyntax: CT, transferSyntaxes: [JPEG_LS] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
      { id: 5, abstractSyntax: COMMITMENT, transferSyntaxes: [ILE] },
      { id: 7, abstractSyntax: MR, transferSyntaxes: [ELE] },
    ]);
    expect(roleSelections).toEqual([{ sopClassUid: COMMITMENT, scuRole: false, scpRole: true }]);
  });

  it('refuses proposals it cannot encode', () => {
    expect(() => proposeContexts([])).toThrow(RangeError);
    const many = Array.from({ length: 129 }, () => ({
      abstractSyntax: CT,
      transferSyntaxes: [ELE],
    }));
    expect(() => proposeContexts(many)).toThrow(RangeError);
    expect(() => proposeContexts([{ abstractSyntax: CT, transferSyntaxes: [] }])).toThrow(
      RangeError,
    );
    expect(() =>
      proposeContexts([
        { abstractSyntax: CT, transferSyntaxes: [ELE] },
        { abstractSyntax: CT, transferSyntaxes: [ILE], role: { scu: false, scp: true } },
      ]),
    ).toThrow(/conflicting roles/);
  });

  function ac(partial: Partial<AssociateAc>): AssociateAc {
    return {
      calledAet: 'PEER',
      callingAet: 'STRATA',
      presentationContexts: [],
      userInfo: { maxPduLength: 16384, roleSelections: [] },
      ...partial,
    };
  }

  it('keeps the contexts the peer accepted in a proposed transfer syntax, with our roles', () => {
    const { contexts, roleSelections } = proposeContexts([
      { abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
      { abstractSyntax: MR, transferSyntaxes: [ELE] },
      { abstractSyntax: COMMITMENT, transferSyntaxes: [ILE], role: { scu: false, scp: true } },
      { abstractSyntax: VERIFICATION, transferSyntaxes: [ILE], role: { scu: true, scp: true } },
    ]);
    const accepted = acceptedByPeer(
      contexts,
      roleSelections,
      ac({
        presentationContexts: [
          { id: 1, result: 0, transferSyntax: ILE },
          { id: 3, result: 0, transferSyntax: JPEG_LS }, // not proposed: ignored
          { id: 5, result: 0, transferSyntax: ILE },
          { id: 7, result: 0, transferSyntax: ILE },
          { id: 9, result: 0, transferSyntax: ILE }, // not ours
        ],
        userInfo: {
          maxPduLength: 0,
          roleSelections: [
            { sopClassUid: COMMITMENT, scuRole: false, scpRole: true },
            { sopClassUid: VERIFICATION, scuRole: true, scpRole: false },
          ],
        },
      }),
    );
    expect(accepted[1]).toEqual({
      abstractSyntax: CT,
      transferSyntax: ILE,
      weAreScu: true,
      weAreScp: false,
    });
    expect(accepted[3]).toBeUndefined();
    expect(accepted[5]).toMatchObject({ weAreScu: false, weAreScp: true });
    expect(accepted[7]).toMatchObject({ weAreScu: true, weAreScp: false });
    expect(accepted[9]).toBeUndefined();
  });

  it('keeps an SCP role we asked for when the peer ignores role selection', () => {
    const { contexts, roleSelections } = proposeContexts([
      { abstractSyntax: COMMITMENT, transferSyntaxes: [ILE], role: { scu: false, scp: true } },
    ]);
    const accepted = acceptedByPeer(
      contexts,
      roleSelections,
      ac({ presentationContexts: [{ id: 1, result: 0, transferSyntax: ILE }] }),
    );
    expect(accepted[1]).toMatchObject({ weAreScu: true, weAreScp: true });
    const rejected = acceptedByPeer(
      contexts,
      roleSelections,
      ac({ presentationContexts: [{ id: 1, result: 3, transferSyntax: ILE }] }),
    );
    expect(rejected[1]).toBeUndefined();
  });
});
