// Test helper: a byte-level DICOM upper layer client, for driving the server with inputs no real
// SCU would send (garbage, truncated PDUs, hostile lengths, mid-data-set disconnects).

import { connect, type Socket } from 'node:net';
import { type DimseCommand, encodeCommand } from '../command.js';
import {
  DICOM_APPLICATION_CONTEXT,
  encodeAssociateRq,
  encodePDataTf,
  IMPLICIT_VR_LITTLE_ENDIAN,
  type PresentationContextProposal,
  type RoleSelection,
  VERIFICATION_SOP_CLASS,
} from '../pdu.js';

export interface RawPdu {
  type: number;
  body: Buffer;
}

export class RawClient {
  private buffered = Buffer.alloc(0);
  private isClosed = false;
  private wake: (() => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** Next complete PDU, or null if the connection closed (or timed out) first. */
  async nextPdu(timeoutMs = 5000): Promise<RawPdu | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffered.length >= 6) {
        const length = this.buffered.readUInt32BE(2);
        if (this.buffered.length >= 6 + length) {
          const pdu = { type: this.buffered[0], body: this.buffered.subarray(6, 6 + length) };
          this.buffered = this.buffered.subarray(6 + length);
          return pdu;
        }
      }
      const left = deadline - Date.now();
      if (this.isClosed || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Resolves true if the server closed the connection within timeoutMs. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function associateRqPdu(
  options: {
    calledAet?: string;
    callingAet?: string;
    contexts?: PresentationContextProposal[];
    maxPduLength?: number;
    roleSelections?: RoleSelection[];
  } = {},
): Buffer {
  return encodeAssociateRq({
    calledAet: options.calledAet ?? 'STRATA',
    callingAet: options.callingAet ?? 'RAWCLIENT',
    applicationContext: DICOM_APPLICATION_CONTEXT,
    presentationContexts: options.contexts ?? [
      {
        id: 1,
        abstractSyntax: VERIFICATION_SOP_CLASS,
        transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN],
      },
    ],
    userInfo: {
      maxPduLength: options.maxPduLength ?? 16384,
      implementationClassUid: '1.2.826.0.1.3680043.10.1461.98',
      implementationVersionName: 'RAWCLIENT',
      roleSelections: options.roleSelections ?? [],
    },
  });
}

/** A whole command in one PDV, in one P-DATA-TF PDU. */
export function commandPdu(pcId: number, command: DimseCommand): Buffer {
  return encodePDataTf([
    { presentationContextId: pcId, isCommand: true, isLast: true, data: encodeCommand(command) },
  ]);
}

export function dataPdu(pcId: number, data: Buffer, isLast: boolean): Buffer {
  return encodePDataTf([{ presentationContextId: pcId, isCommand: false, isLast, data }]);
}
