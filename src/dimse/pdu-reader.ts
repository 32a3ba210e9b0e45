// Incremental PDU framing over a TCP byte stream. PDU and PDV headers go through a 6-byte scratch
// buffer; control PDUs (everything but P-DATA-TF) are collected up to a cap; PDV payloads are
// handed on as subarrays of the socket's own chunks, so P-DATA is never reassembled or copied.
// Lengths are checked before anything is allocated: a PDU claiming 4 GiB costs nothing.

import { AbortReason, PDU_HEADER_LENGTH, PduError, PduType, PDV_HEADER_LENGTH } from './pdu.js';

/** Non-P-DATA PDUs are small (an A-ASSOCIATE-RQ with 128 contexts is ~20 KB); cap their size. */
export const MAX_CONTROL_PDU_LENGTH = 1024 * 1024;

/** Receives what the reader finds. Any method may throw PduError to refuse the input. */
export interface PduSink {
  /** A complete PDU other than P-DATA-TF. */
  onControlPdu(type: number, body: Buffer): void;
  /** A P-DATA-TF header: throw if P-DATA is not acceptable now. */
  onPDataStart(): void;
  /** A PDV header; length is the payload length. */
  onPdvStart(
    presentationContextId: number,
    isCommand: boolean,
    isLast: boolean,
    length: number,
  ): void;
  /** Part of the current PDV's payload: a subarray of the socket chunk, not a copy. */
  onPdvData(slice: Buffer): void;
  onPdvEnd(): void;
}

const S_PDU_HEADER = 0;
const S_PDU_BODY = 1;
const S_PDV_HEADER = 2;
const S_PDV_DATA = 3;
const S_STOPPED = 4;

export class PduReader {
  private state = S_PDU_HEADER;
  private readonly scratch = Buffer.alloc(6);
  private scratchFill = 0;
  private pduType = 0;
  private bodyParts: Buffer[] = [];
  private bodyRemaining = 0;
  /** Bytes of the current P-DATA-TF body not consumed yet. */
  private pduRemaining = 0;
  private pdvRemaining = 0;

  /** maxPDataLength: largest P-DATA-TF length field we accept (our max PDU plus some slack). */
  constructor(
    private readonly sink: PduSink,
    private readonly maxPDataLength: number,
  ) {}

  /** Ignore all further input (the association is ending). */
  stop(): void {
    this.state = S_STOPPED;
    this.bodyParts = [];
  }

  /** Consumes one socket chunk. Throws PduError (or whatever the sink throws) on bad input. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      switch (this.state) {
        case S_PDU_HEADER:
          off = this.fillScratch(chunk, off);
          if (this.scratchFill === PDU_HEADER_LENGTH) {
            this.scratchFill = 0;
            this.startPdu(this.scratch[0], this.scratch.readUInt32BE(2));
          }
          break;
        case S_PDU_BODY: {
          const n = Math.min(this.bodyRemaining, len - off);
          this.bodyParts.push(chunk.subarray(off, off + n));
          off += n;
          this.bodyRemaining -= n;
          if (this.bodyRemaining === 0) this.endControlPdu();
          break;
        }
        case S_PDV_HEADER:
          off = this.fillScratch(chunk, off);
          if (this.scratchFill === PDV_HEADER_LENGTH) {
            this.scratchFill = 0;
            this.startPdv();
          }
          break;
        case S_PDV_DATA: {
          const n = Math.min(this.pdvRemaining, len - off);
          this.sink.onPdvData(chunk.subarray(off, off + n));
          off += n;
          this.pdvRemaining -= n;
          this.pduRemaining -= n;
          if (this.pdvRemaining === 0) this.endPdv();
          break;
        }
        default:
          return;
      }
    }
  }

  private fillScratch(chunk: Buffer, off: number): number {
    const n = Math.min(6 - this.scratchFill, chunk.length - off);
    chunk.copy(this.scratch, this.scratchFill, off, off + n);
    this.scratchFill += n;
    return off + n;
  }

  private startPdu(type: number, length: number): void {
    if (type === PduType.PDataTf) {
      this.sink.onPDataStart();
      if (length > this.maxPDataLength) {
        throw new PduError(`P-DATA-TF of ${length} bytes exceeds our maximum`);
      }
      if (length < PDV_HEADER_LENGTH) throw new PduError('P-DATA-TF without PDVs');
      this.pduRemaining = length;
      this.state = S_PDV_HEADER;
      return;
    }
    if (type < PduType.AssociateRq || type > PduType.Abort) {
      throw new PduError(
        `unrecognized PDU type 0x${type.toString(16)}`,
        AbortReason.UnrecognizedPdu,
      );
    }
    if (length > MAX_CONTROL_PDU_LENGTH) throw new PduError(`PDU of ${length} bytes is too long`);
    this.pduType = type;
    this.bodyRemaining = length;
    this.state = S_PDU_BODY;
    if (length === 0) this.endControlPdu();
  }

  private endControlPdu(): void {
    const parts = this.bodyParts;
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.bodyParts = [];
    this.state = S_PDU_HEADER;
    this.sink.onControlPdu(this.pduType, body);
  }

  private startPdv(): void {
    const itemLength = this.scratch.readUInt32BE(0);
    this.pduRemaining -= PDV_HEADER_LENGTH;
    if (itemLength < 2 || itemLength - 2 > this.pduRemaining) {
      throw new PduError('PDV length inconsistent with its PDU');
    }
    this.pdvRemaining = itemLength - 2;
    this.state = S_PDV_DATA;
    const mch = this.scratch[5];
    this.sink.onPdvStart(
      this.scratch[4],
      (mch & 0x01) !== 0,
      (mch & 0x02) !== 0,
      this.pdvRemaining,
    );
    if (this.pdvRemaining === 0 && this.state === S_PDV_DATA) this.endPdv();
  }

  private endPdv(): void {
    this.sink.onPdvEnd();
    if (this.state === S_STOPPED) return;
    if (this.pduRemaining === 0) {
      this.state = S_PDU_HEADER;
    } else if (this.pduRemaining < PDV_HEADER_LENGTH) {
      throw new PduError('trailing bytes in P-DATA-TF');
    } else {
      this.state = S_PDV_HEADER;
    }
  }
}
