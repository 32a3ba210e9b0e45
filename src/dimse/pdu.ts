// DICOM Upper Layer PDUs (PS3.8 section 9.3). Pure functions over Buffers: encoders return a
// complete PDU (6-byte header included); decoders take the PDU *body* (after the header) and throw
// PduError, which the association turns into an A-ABORT. The streaming P-DATA path does not use
// parsePDataTf (it walks PDVs straight off the socket); that function exists for tests and SCUs.

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export const PDU_HEADER_LENGTH = 6;
/** PDV item header: 4-byte item length, presentation context ID, message control header. */
export const PDV_HEADER_LENGTH = 6;

export const DICOM_APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';
export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const IMPLEMENTATION_CLASS_UID = '1.2.826.0.1.3680043.10.1461.1';
export const IMPLEMENTATION_VERSION_NAME = 'STRATA_010';

/** A-ABORT source (PS3.8 9.3.8): 0 = service user, 2 = service provider. */
export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
/** A-ABORT reason when the source is the service provider (PS3.8 9.3.8). */
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

/** Presentation context result/reason in A-ASSOCIATE-AC (PS3.8 9.3.3.2). */
export const PresentationContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

/** A malformed or unexpected PDU; abortReason is what we put in the A-ABORT we answer with. */
export class PduError extends Error {
  override readonly name = 'PduError';
  constructor(
    message: string,
    readonly abortReason: number = AbortReason.InvalidPduParameterValue,
  ) {
    super(message);
  }
}

export interface PresentationContextProposal {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface RoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

export interface UserInformation {
  /** 0 means "no limit" (PS3.8 D.1). */
  maxPduLength: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  asyncOps?: { invoked: number; performed: number };
  roleSelections: RoleSelection[];
}

export interface AssociateRq {
  protocolVersion: number;
  calledAet: string;
  callingAet: string;
  applicationContext: string;
  presentationContexts: PresentationContextProposal[];
  userInfo: UserInformation;
}

export interface PresentationContextAnswer {
  id: number;
  result: number;
  /** Significant only when result is Acceptance; still encoded otherwise (PS3.8 9.3.3.2). */
  transferSyntax: string;
}

export interface AssociateAc {
  calledAet: string;
  callingAet: string;
  presentationContexts: PresentationContextAnswer[];
  userInfo: UserInformation;
}

export interface AssociateRj {
  result: number;
  source: number;
  reason: number;
}

export interface Pdv {
  presentationContextId: number;
  isCommand: boolean;
  isLast: boolean;
  data: Buffer;
}

/** Presentation context IDs are odd numbers 1..255, so a valid RQ has at most 128 of them. */
export const MAX_PRESENTATION_CONTEXTS = 128;

// ---------------------------------------------------------------------------------------------
// Small writer helpers

function pduHeader(type: number, length: number): Buffer {
  const h = Buffer.alloc(PDU_HEADER_LENGTH);
  h[0] = type;
  h.writeUInt32BE(length, 2);
  return h;
}

function withHeader(type: number, body: Buffer): Buffer {
  return Buffer.concat([pduHeader(type, body.length), body]);
}

/** Item/sub-item: type, reserved, 2-byte big-endian length, value. */
function item(type: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new RangeError('PDU item too long');
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value]);
}

function ascii(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** AE titles are 16 bytes, space padded (PS3.8 9.3.2). */
function aeField(aet: string): Buffer {
  const b = Buffer.alloc(16, 0x20);
  b.write(aet.slice(0, 16), 0, 'latin1');
  return b;
}

function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** Fixed part shared by RQ and AC: protocol version, reserved, called, calling, 32 reserved. */
function associateFixedPart(calledAet: string, callingAet: string): Buffer {
  return Buffer.concat([
    uint16(1),
    Buffer.alloc(2),
    aeField(calledAet),
    aeField(callingAet),
    Buffer.alloc(32),
  ]);
}

function encodeUserInfo(ui: UserInformation): Buffer {
  const subs: Buffer[] = [item(0x51, uint32(ui.maxPduLength))];
  if (ui.implementationClassUid) subs.push(item(0x52, ascii(ui.implementationClassUid)));
  if (ui.asyncOps) {
    subs.push(
      item(0x53, Buffer.concat([uint16(ui.asyncOps.invoked), uint16(ui.asyncOps.performed)])),
    );
  }
  for (const r of ui.roleSelections) {
    const uid = ascii(r.sopClassUid);
    subs.push(
      item(
        0x54,
        Buffer.concat([
          uint16(uid.length),
          uid,
          Buffer.from([r.scuRole ? 1 : 0, r.scpRole ? 1 : 0]),
        ]),
      ),
    );
  }
  if (ui.implementationVersionName) subs.push(item(0x55, ascii(ui.implementationVersionName)));
  return item(0x50, Buffer.concat(subs));
}

// ---------------------------------------------------------------------------------------------
// Reader helpers

/** UIDs in items are unpadded, but be lenient with NUL/space padding some stacks add anyway. */
function readUid(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, end).replace(/[\0 ]+$/, '');
}

function readAe(buf: Buffer, start: number): string {
  return buf.toString('latin1', start, start + 16).replace(/^[ \0]+|[ \0]+$/g, '');
}

/** Iterates items in buf[start, end): calls visit(type, valueStart, valueEnd). */
function forEachItem(
  buf: Buffer,
  start: number,
  end: number,
  visit: (type: number, valueStart: number, valueEnd: number) => void,
): void {
  let off = start;
  while (off < end) {
    if (end - off < 4) throw new PduError('truncated item header');
    const type = buf[off];
    const length = buf.readUInt16BE(off + 2);
    const valueStart = off + 4;
    const valueEnd = valueStart + length;
    if (valueEnd > end) throw new PduError('item length past end of PDU');
    visit(type, valueStart, valueEnd);
    off = valueEnd;
  }
}

function parseUserInfo(buf: Buffer, start: number, end: number): UserInformation {
  const ui: UserInformation = { maxPduLength: 0, roleSelections: [] };
  forEachItem(buf, start, end, (type, vs, ve) => {
    switch (type) {
      case 0x51:
        if (ve - vs !== 4) throw new PduError('bad maximum length sub-item');
        ui.maxPduLength = buf.readUInt32BE(vs);
        break;
      case 0x52:
        ui.implementationClassUid = readUid(buf, vs, ve);
        break;
      case 0x53:
        if (ve - vs !== 4) throw new PduError('bad asynchronous operations sub-item');
        ui.asyncOps = { invoked: buf.readUInt16BE(vs), performed: buf.readUInt16BE(vs + 2) };
        break;
      case 0x54: {
        if (ve - vs < 4) throw new PduError('bad role selection sub-item');
        const uidLength = buf.readUInt16BE(vs);
        if (vs + 2 + uidLength + 2 !== ve) throw new PduError('bad role selection sub-item');
        ui.roleSelections.push({
          sopClassUid: readUid(buf, vs + 2, vs + 2 + uidLength),
          scuRole: buf[ve - 2] === 1,
          scpRole: buf[ve - 1] === 1,
        });
        break;
      }
      case 0x55:
        ui.implementationVersionName = buf.toString('latin1', vs, ve).trim();
        break;
      default:
        // Extended negotiation, user identity, ...: not negotiated by us, skipped (PS3.7 D.3.3).
        break;
    }
  });
  return ui;
}

// ---------------------------------------------------------------------------------------------
// A-ASSOCIATE-RQ

/** Parses an A-ASSOCIATE-RQ body. Unknown items and sub-items are skipped. */
export function parseAssociateRq(body: Buffer): AssociateRq {
  if (body.length < 68) throw new PduError('A-ASSOCIATE-RQ too short');
  const rq: AssociateRq = {
    protocolVersion: body.readUInt16BE(0),
    calledAet: readAe(body, 4),
    callingAet: readAe(body, 20),
    applicationContext: '',
    presentationContexts: [],
    userInfo: { maxPduLength: 0, roleSelections: [] },
  };
  const seen = new Set<number>();
  forEachItem(body, 68, body.length, (type, vs, ve) => {
    switch (type) {
      case 0x10:
        rq.applicationContext = readUid(body, vs, ve);
        break;
      case 0x20: {
        if (ve - vs < 4) throw new PduError('presentation context item too short');
        const id = body[vs];
        if (id % 2 === 0 || seen.has(id)) throw new PduError(`bad presentation context ID ${id}`);
        seen.add(id);
        if (seen.size > MAX_PRESENTATION_CONTEXTS)
          throw new PduError('too many presentation contexts');
        const pc: PresentationContextProposal = { id, abstractSyntax: '', transferSyntaxes: [] };
        forEachItem(body, vs + 4, ve, (sub, svs, sve) => {
          if (sub === 0x30) pc.abstractSyntax = readUid(body, svs, sve);
          else if (sub === 0x40) pc.transferSyntaxes.push(readUid(body, svs, sve));
        });
        if (pc.abstractSyntax === '')
          throw new PduError(`presentation context ${id} has no abstract syntax`);
        rq.presentationContexts.push(pc);
        break;
      }
      case 0x50:
        rq.userInfo = parseUserInfo(body, vs, ve);
        break;
      default:
        break;
    }
  });
  return rq;
}

/** Encodes an A-ASSOCIATE-RQ (DimseClient, and tests). */
export function encodeAssociateRq(rq: Omit<AssociateRq, 'protocolVersion'>): Buffer {
  const items: Buffer[] = [
    associateFixedPart(rq.calledAet, rq.callingAet),
    item(0x10, ascii(rq.applicationContext)),
  ];
  for (const pc of rq.presentationContexts) {
    const subs = [
      item(0x30, ascii(pc.abstractSyntax)),
      ...pc.transferSyntaxes.map((ts) => item(0x40, ascii(ts))),
    ];
    items.push(item(0x20, Buffer.concat([Buffer.from([pc.id, 0, 0, 0]), ...subs])));
  }
  items.push(encodeUserInfo(rq.userInfo));
  return withHeader(PduType.AssociateRq, Buffer.concat(items));
}

// ---------------------------------------------------------------------------------------------
// A-ASSOCIATE-AC

export function encodeAssociateAc(ac: AssociateAc): Buffer {
  const items: Buffer[] = [
    associateFixedPart(ac.calledAet, ac.callingAet),
    item(0x10, ascii(DICOM_APPLICATION_CONTEXT)),
  ];
  for (const pc of ac.presentationContexts) {
    items.push(
      item(
        0x21,
        Buffer.concat([
          Buffer.from([pc.id, 0, pc.result, 0]),
          item(0x40, ascii(pc.transferSyntax)),
        ]),
      ),
    );
  }
  items.push(encodeUserInfo(ac.userInfo));
  return withHeader(PduType.AssociateAc, Buffer.concat(items));
}

export function parseAssociateAc(body: Buffer): AssociateAc {
  if (body.length < 68) throw new PduError('A-ASSOCIATE-AC too short');
  const ac: AssociateAc = {
    calledAet: readAe(body, 4),
    callingAet: readAe(body, 20),
    presentationContexts: [],
    userInfo: { maxPduLength: 0, roleSelections: [] },
  };
  forEachItem(body, 68, body.length, (type, vs, ve) => {
    if (type === 0x21) {
      if (ve - vs < 4) throw new PduError('presentation context item too short');
      const pc: PresentationContextAnswer = {
        id: body[vs],
        result: body[vs + 2],
        transferSyntax: '',
      };
      forEachItem(body, vs + 4, ve, (sub, svs, sve) => {
        if (sub === 0x40) pc.transferSyntax = readUid(body, svs, sve);
      });
      ac.presentationContexts.push(pc);
    } else if (type === 0x50) {
      ac.userInfo = parseUserInfo(body, vs, ve);
    }
  });
  return ac;
}

// ---------------------------------------------------------------------------------------------
// A-ASSOCIATE-RJ, A-RELEASE-RQ/RP, A-ABORT

export function encodeAssociateRj(rj: AssociateRj): Buffer {
  return withHeader(PduType.AssociateRj, Buffer.from([0, rj.result, rj.source, rj.reason]));
}

export function parseAssociateRj(body: Buffer): AssociateRj {
  if (body.length < 4) throw new PduError('A-ASSOCIATE-RJ too short');
  return { result: body[1], source: body[2], reason: body[3] };
}

export function encodeReleaseRq(): Buffer {
  return withHeader(PduType.ReleaseRq, Buffer.alloc(4));
}

export function encodeReleaseRp(): Buffer {
  return withHeader(PduType.ReleaseRp, Buffer.alloc(4));
}

export function encodeAbort(source: number, reason: number): Buffer {
  return withHeader(PduType.Abort, Buffer.from([0, 0, source, reason]));
}

export function parseAbort(body: Buffer): { source: number; reason: number } {
  if (body.length < 4) throw new PduError('A-ABORT too short');
  return { source: body[2], reason: body[3] };
}

// ---------------------------------------------------------------------------------------------
// P-DATA-TF

/** Message control header bits (PS3.8 E.2). */
export const MCH_COMMAND = 0x01;
export const MCH_LAST = 0x02;

/**
 * The 12 bytes that precede a single-PDV P-DATA-TF's data: PDU header + PDV header. Lets a sender
 * write header and payload slice separately (writev) instead of copying the payload.
 */
export function encodePDataHeader(
  presentationContextId: number,
  isCommand: boolean,
  isLast: boolean,
  dataLength: number,
): Buffer {
  const h = Buffer.allocUnsafe(PDU_HEADER_LENGTH + PDV_HEADER_LENGTH);
  h[0] = PduType.PDataTf;
  h[1] = 0;
  h.writeUInt32BE(PDV_HEADER_LENGTH + dataLength, 2);
  h.writeUInt32BE(2 + dataLength, 6);
  h[10] = presentationContextId;
  h[11] = (isCommand ? MCH_COMMAND : 0) | (isLast ? MCH_LAST : 0);
  return h;
}

/** Encodes one P-DATA-TF PDU carrying the given PDVs (copies; fine for small messages). */
export function encodePDataTf(pdvs: readonly Pdv[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pdvs) {
    const h = Buffer.allocUnsafe(PDV_HEADER_LENGTH);
    h.writeUInt32BE(2 + p.data.length, 0);
    h[4] = p.presentationContextId;
    h[5] = (p.isCommand ? MCH_COMMAND : 0) | (p.isLast ? MCH_LAST : 0);
    parts.push(h, p.data);
  }
  return withHeader(PduType.PDataTf, Buffer.concat(parts));
}

/** Splits a whole P-DATA-TF body into PDVs (data are subarrays of body, not copies). */
export function parsePDataTf(body: Buffer): Pdv[] {
  const pdvs: Pdv[] = [];
  let off = 0;
  while (off < body.length) {
    if (body.length - off < PDV_HEADER_LENGTH) throw new PduError('truncated PDV header');
    const itemLength = body.readUInt32BE(off);
    if (itemLength < 2 || itemLength > body.length - off - 4)
      throw new PduError('bad PDV item length');
    const mch = body[off + 5];
    pdvs.push({
      presentationContextId: body[off + 4],
      isCommand: (mch & MCH_COMMAND) !== 0,
      isLast: (mch & MCH_LAST) !== 0,
      data: body.subarray(off + 6, off + 4 + itemLength),
    });
    off += 4 + itemLength;
  }
  if (pdvs.length === 0) throw new PduError('P-DATA-TF without PDVs');
  return pdvs;
}
