import { describe, expect, it } from 'vitest';
import { basicAssociationChecks, negotiatePresentationContexts } from './negotiation.js';
import { type AssociateRq, DICOM_APPLICATION_CONTEXT } from './pdu.js';

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
    expect(out.accepted[1]).toEqual({ abstractSyntax: CT, transferSyntax: JPEG_LS });
    expect(out.accepted[3]).toBeUndefined();
    expect(out.accepted[5]).toBeUndefined();
  });

  it('echoes SCU role selection and rejects SCP-only proposals', () => {
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
            { sopClassUid: MR, scuRole: false, scpRole: true },
          ],
        },
      }),
      () => true,
    );
    expect(out.answers.map((a) => a.result)).toEqual([0, 1]);
    expect(out.roleReplies).toEqual([{ sopClassUid: CT, scuRole: true, scpRole: false }]);
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
