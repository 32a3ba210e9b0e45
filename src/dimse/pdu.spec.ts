import { describe, expect, it } from 'vitest';
import {
  DICOM_APPLICATION_CONTEXT,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeAssociateRq,
  encodePDataHeader,
  encodePDataTf,
  encodeReleaseRp,
  encodeReleaseRq,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  parseAbort,
  parseAssociateAc,
  parseAssociateRj,
  parseAssociateRq,
  parsePDataTf,
  PduError,
  PduType,
  type AssociateRq,
} from './pdu.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';
const ILE = '1.2.840.10008.1.2';

function sampleRq(): Omit<AssociateRq, 'protocolVersion'> {
  return {
    calledAet: 'STRATA',
    callingAet: 'MODALITY1',
    applicationContext: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [
      { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [ILE] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
    ],
    userInfo: {
      maxPduLength: 32768,
      implementationClassUid: '1.2.3.4',
      implementationVersionName: 'TESTSCU',
      asyncOps: { invoked: 1, performed: 1 },
      roleSelections: [{ sopClassUid: CT, scuRole: true, scpRole: false }],
    },
  };
}

/** The body of a full PDU (what the parse* functions take). */
const body = (pdu: Buffer): Buffer => pdu.subarray(6);

describe('A-ASSOCIATE-RQ', () => {
  it('round-trips through encode and parse', () => {
    const pdu = encodeAssociateRq(sampleRq());
    expect(pdu[0]).toBe(PduType.AssociateRq);
    expect(pdu.readUInt32BE(2)).toBe(pdu.length - 6);
    expect(parseAssociateRq(body(pdu))).toEqual({ protocolVersion: 1, ...sampleRq() });
  });

  it('skips unknown items and user information sub-items', () => {
    const pdu = encodeAssociateRq(sampleRq());
    // Append an unknown item (0x77) and patch the PDU length.
    const extra = Buffer.from([0x77, 0, 0, 3, 1, 2, 3]);
    const patched = Buffer.concat([pdu, extra]);
    patched.writeUInt32BE(patched.length - 6, 2);
    expect(parseAssociateRq(body(patched)).presentationContexts).toHaveLength(2);

    // A user identity sub-item (0x58) inside user info is skipped too.
    const rq = sampleRq();
    const encoded = encodeAssociateRq(rq);
    const uiStart = encoded.indexOf(Buffer.from([0x50, 0x00]), 74);
    const uiLength = encoded.readUInt16BE(uiStart + 2);
    const identity = Buffer.from([0x58, 0, 0, 6, 1, 0, 0, 2, 0x41, 0x42]);
    const withIdentity = Buffer.concat([encoded.subarray(0, uiStart + 4 + uiLength), identity]);
    withIdentity.writeUInt16BE(uiLength + identity.length, uiStart + 2);
    withIdentity.writeUInt32BE(withIdentity.length - 6, 2);
    expect(parseAssociateRq(body(withIdentity)).userInfo.maxPduLength).toBe(32768);
  });

  it('trims AE title padding and tolerates padded UIDs', () => {
    const rq = sampleRq();
    rq.presentationContexts[1]!.abstractSyntax = `${CT}\0`;
    const parsed = parseAssociateRq(body(encodeAssociateRq(rq)));
    expect(parsed.calledAet).toBe('STRATA');
    expect(parsed.presentationContexts[1]!.abstractSyntax).toBe(CT);
  });

  it.each([
    ['too short', Buffer.alloc(10)],
    ['item header truncated', Buffer.concat([Buffer.alloc(68), Buffer.from([0x10, 0])])],
    [
      'item longer than PDU',
      Buffer.concat([Buffer.alloc(68), Buffer.from([0x10, 0, 0xff, 0xff, 0x31])]),
    ],
  ])('rejects malformed input: %s', (_name, input) => {
    expect(() => parseAssociateRq(input)).toThrow(PduError);
  });

  it('rejects even, duplicate or too many presentation context IDs', () => {
    const even = sampleRq();
    even.presentationContexts[0]!.id = 2;
    expect(() => parseAssociateRq(body(encodeAssociateRq(even)))).toThrow(/context ID/);

    const dup = sampleRq();
    dup.presentationContexts[1]!.id = 1;
    expect(() => parseAssociateRq(body(encodeAssociateRq(dup)))).toThrow(/context ID/);

    const many = sampleRq();
    many.presentationContexts = Array.from({ length: 200 }, (_, i) => ({
      id: (2 * i + 1) % 256,
      abstractSyntax: CT,
      transferSyntaxes: [ELE],
    }));
    expect(() => parseAssociateRq(body(encodeAssociateRq(many)))).toThrow(PduError);
  });

  it('rejects a presentation context without abstract syntax and bad user info sub-items', () => {
    const noAbstract = sampleRq();
    noAbstract.presentationContexts[0]!.abstractSyntax = '';
    const pdu = encodeAssociateRq(noAbstract);
    // The encoder wrote an empty 0x30 item; the parser must treat it as missing.
    expect(() => parseAssociateRq(body(pdu))).toThrow(/abstract syntax/);

    const good = encodeAssociateRq(sampleRq());
    const maxLengthItem = good.indexOf(Buffer.from([0x51, 0x00, 0x00, 0x04]));
    const bad = Buffer.from(good);
    bad.writeUInt16BE(3, maxLengthItem + 2); // claims 3 bytes: sub-item now malformed
    expect(() => parseAssociateRq(body(bad))).toThrow(PduError);
  });

  it('throws only PduError on every truncation and on random bytes', () => {
    const full = body(encodeAssociateRq(sampleRq()));
    for (let n = 0; n < full.length; n++) {
      try {
        parseAssociateRq(full.subarray(0, n));
      } catch (err) {
        expect(err).toBeInstanceOf(PduError);
      }
    }
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(Array.from({ length: 68 + (i % 200) }, rand));
      try {
        parseAssociateRq(junk);
      } catch (err) {
        expect(err).toBeInstanceOf(PduError);
      }
    }
  });
});

describe('A-ASSOCIATE-AC', () => {
  it('round-trips, with our implementation identity and role replies', () => {
    const pdu = encodeAssociateAc({
      calledAet: 'STRATA',
      callingAet: 'MODALITY1',
      presentationContexts: [
        { id: 1, result: 0, transferSyntax: ILE },
        { id: 3, result: 3, transferSyntax: ELE },
      ],
      userInfo: {
        maxPduLength: 1048576,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        roleSelections: [{ sopClassUid: CT, scuRole: true, scpRole: false }],
      },
    });
    expect(pdu[0]).toBe(PduType.AssociateAc);
    const ac = parseAssociateAc(body(pdu));
    expect(ac.presentationContexts).toEqual([
      { id: 1, result: 0, transferSyntax: ILE },
      { id: 3, result: 3, transferSyntax: ELE },
    ]);
    expect(ac.userInfo).toEqual({
      maxPduLength: 1048576,
      implementationClassUid: '1.2.826.0.1.3680043.10.1461.1',
      implementationVersionName: 'STRATA_010',
      roleSelections: [{ sopClassUid: CT, scuRole: true, scpRole: false }],
    });
    // Application context item right after the 68-byte fixed part.
    expect(pdu[6 + 68]).toBe(0x10);
    expect(pdu.toString('latin1', 6 + 72, 6 + 72 + DICOM_APPLICATION_CONTEXT.length)).toBe(
      DICOM_APPLICATION_CONTEXT,
    );
  });
});

describe('fixed-size PDUs', () => {
  it('encodes A-ASSOCIATE-RJ, release and abort exactly', () => {
    expect([...encodeAssociateRj({ result: 1, source: 1, reason: 7 })]).toEqual([
      3, 0, 0, 0, 0, 4, 0, 1, 1, 7,
    ]);
    expect(parseAssociateRj(Buffer.from([0, 2, 3, 1]))).toEqual({
      result: 2,
      source: 3,
      reason: 1,
    });
    expect([...encodeReleaseRq()]).toEqual([5, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
    expect([...encodeReleaseRp()]).toEqual([6, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
    expect([...encodeAbort(2, 6)]).toEqual([7, 0, 0, 0, 0, 4, 0, 0, 2, 6]);
    expect(parseAbort(Buffer.from([0, 0, 2, 1]))).toEqual({ source: 2, reason: 1 });
    expect(() => parseAbort(Buffer.alloc(2))).toThrow(PduError);
    expect(() => parseAssociateRj(Buffer.alloc(3))).toThrow(PduError);
  });
});

describe('P-DATA-TF', () => {
  it('round-trips PDVs and sets message control bits', () => {
    const pdu = encodePDataTf([
      { presentationContextId: 3, isCommand: true, isLast: true, data: Buffer.from('cmd!') },
      { presentationContextId: 3, isCommand: false, isLast: false, data: Buffer.from('data') },
    ]);
    expect(pdu[0]).toBe(PduType.PDataTf);
    expect(pdu[11]).toBe(0x03);
    const pdvs = parsePDataTf(body(pdu));
    expect(
      pdvs.map((p) => [p.presentationContextId, p.isCommand, p.isLast, p.data.toString()]),
    ).toEqual([
      [3, true, true, 'cmd!'],
      [3, false, false, 'data'],
    ]);
  });

  it('encodePDataHeader matches the header of an equivalent single-PDV PDU', () => {
    const data = Buffer.from('0123456789');
    const full = encodePDataTf([
      { presentationContextId: 5, isCommand: false, isLast: true, data },
    ]);
    expect(encodePDataHeader(5, false, true, data.length)).toEqual(full.subarray(0, 12));
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['truncated header', Buffer.from([0, 0, 0])],
    ['item length below 2', Buffer.from([0, 0, 0, 1, 1, 0])],
    ['item length past end', Buffer.from([0, 0, 0, 9, 1, 0, 1, 2])],
  ])('rejects malformed P-DATA-TF: %s', (_name, input) => {
    expect(() => parsePDataTf(input)).toThrow(PduError);
  });
});
