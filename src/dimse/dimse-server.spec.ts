// DimseServer driven byte by byte from a raw socket: protocol edge cases, hostile input,
// backpressure, timeouts and shutdown. (dcmtk interop lives in dimse-server.interop.spec.ts.)

import { type Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CommandField,
  DATA_SET_PRESENT,
  decodeCommand,
  type DimseCommand,
  NO_DATA_SET,
} from './command.js';
import {
  AbortReason,
  encodeAbort,
  encodeAssociateRq,
  encodePDataTf,
  encodeReleaseRq,
  IMPLICIT_VR_LITTLE_ENDIAN,
  parseAbort,
  parseAssociateAc,
  parseAssociateRj,
  parsePDataTf,
  PduType,
  type PresentationContextProposal,
  VERIFICATION_SOP_CLASS,
  DICOM_APPLICATION_CONTEXT,
} from './pdu.js';
import { DimseStatus } from './status.js';
import { drain, type Harness, rawEcho, startHarness, waitFor } from './testing/harness.js';
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN } from './testing/part10.js';
import { associateRqPdu, commandPdu, dataPdu, RawClient } from './testing/raw-client.js';

const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const CONTEXTS: PresentationContextProposal[] = [
  { id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
  {
    id: 3,
    abstractSyntax: CT_IMAGE_STORAGE,
    transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
  },
  { id: 5, abstractSyntax: '1.2.3.4.5.6.7', transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }, // not accepted
];

let h: Harness | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await h?.server.close(500);
  h = undefined;
});

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

/** Connects and negotiates CONTEXTS; returns the client once the A-ASSOCIATE-AC is in. */
async function associate(port: number, contexts = CONTEXTS): Promise<RawClient> {
  const c = await connect(port);
  c.write(associateRqPdu({ contexts }));
  const ac = await c.nextPdu();
  expect(ac?.type).toBe(PduType.AssociateAc);
  return c;
}

function storeRq(messageId: number, instance = `1.2.3.${messageId}`): DimseCommand {
  return {
    commandField: CommandField.CStoreRq,
    messageId,
    priority: 0,
    affectedSopClassUid: CT_IMAGE_STORAGE,
    affectedSopInstanceUid: instance,
    commandDataSetType: DATA_SET_PRESENT,
  };
}

async function nextResponse(c: RawClient): Promise<DimseCommand> {
  const pdu = await c.nextPdu();
  expect(pdu?.type).toBe(PduType.PDataTf);
  const pdvs = parsePDataTf(pdu!.body);
  expect(pdvs[0]!.isCommand).toBe(true);
  return decodeCommand(pdvs[0]!.data);
}

/** Expects an A-ABORT from the server, followed by the connection closing. */
async function expectAbort(c: RawClient, reason?: number): Promise<void> {
  const pdu = await c.nextPdu();
  expect(pdu?.type).toBe(PduType.Abort);
  if (reason !== undefined) expect(parseAbort(pdu!.body).reason).toBe(reason);
  expect(await c.waitClosed()).toBe(true);
}

async function expectServerHealthy(port: number): Promise<void> {
  expect(await rawEcho(port)).toBe(DimseStatus.Success);
}

describe('association negotiation', () => {
  it('accepts Verification and supported SOP classes, rejects others, answers roles', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    c.write(
      associateRqPdu({
        contexts: CONTEXTS,
        maxPduLength: 0,
        roleSelections: [{ sopClassUid: CT_IMAGE_STORAGE, scuRole: true, scpRole: true }],
      }),
    );
    const pdu = await c.nextPdu();
    expect(pdu?.type).toBe(PduType.AssociateAc);
    const ac = parseAssociateAc(pdu!.body);
    expect(ac.presentationContexts).toEqual([
      { id: 1, result: 0, transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN },
      { id: 3, result: 0, transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN },
      { id: 5, result: 3, transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN },
    ]);
    expect(ac.userInfo).toMatchObject({
      maxPduLength: 1024 * 1024,
      implementationClassUid: '1.2.826.0.1.3680043.10.1461.1',
      implementationVersionName: 'STRATA_010',
      // A storage SOP class: the requester may also be SCP (C-GET sub-operations to it).
      roleSelections: [{ sopClassUid: CT_IMAGE_STORAGE, scuRole: true, scpRole: true }],
    });
    expect(ac.userInfo.asyncOps).toBeUndefined();
  });

  it('sends the A-ASSOCIATE-RJ decideAssociation asks for, then closes', async () => {
    h = await startHarness({
      handlers: {
        decideAssociation: () => ({
          accept: false,
          result: 2,
          source: 1,
          reason: 1,
          logReason: 'not today',
        }),
      },
    });
    const c = await connect(h.port);
    c.write(associateRqPdu());
    const pdu = await c.nextPdu();
    expect(pdu?.type).toBe(PduType.AssociateRj);
    expect(parseAssociateRj(pdu!.body)).toEqual({ result: 2, source: 1, reason: 1 });
    expect(await c.waitClosed()).toBe(true);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]!.how).toBe('rejected');
    expect(h.logs.some((l) => l.includes('rejected (not today)'))).toBe(true);
  });

  it('rejects an unsupported application context without asking the handler', async () => {
    let asked = false;
    h = await startHarness({
      handlers: {
        decideAssociation: () => {
          asked = true;
          return { accept: true };
        },
      },
    });
    const c = await connect(h.port);
    c.write(
      encodeAssociateRq({
        calledAet: 'STRATA',
        callingAet: 'X',
        applicationContext: '1.2.3.4',
        presentationContexts: CONTEXTS,
        userInfo: { maxPduLength: 16384, roleSelections: [] },
      }),
    );
    const pdu = await c.nextPdu();
    expect(parseAssociateRj(pdu!.body)).toEqual({ result: 1, source: 1, reason: 2 });
    expect(asked).toBe(false);
  });

  it('rejects (transient) when decideAssociation throws', async () => {
    h = await startHarness({
      handlers: {
        decideAssociation: () => {
          throw new Error('database down');
        },
      },
    });
    const c = await connect(h.port);
    c.write(associateRqPdu());
    expect(parseAssociateRj((await c.nextPdu())!.body)).toEqual({
      result: 2,
      source: 1,
      reason: 1,
    });
    await expectServerHealthy(h.port).catch(() => undefined); // handler still throws: just no crash
  });

  it('aborts, rather than crashes, when the A-ASSOCIATE-AC cannot be encoded', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    // A role selection item for a ~65 500-character SOP class UID, in a user information item
    // without implementation class/version: the RQ fits, but our reply (which adds our
    // implementation items) overflows the 16-bit item length.
    const uid = `1.2.840.10008.5.1.4.1.1.${'1'.repeat(65_476)}`;
    c.write(
      encodeAssociateRq({
        calledAet: 'STRATA',
        callingAet: 'X',
        applicationContext: DICOM_APPLICATION_CONTEXT,
        presentationContexts: [
          { id: 1, abstractSyntax: uid, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
        ],
        userInfo: {
          maxPduLength: 0,
          roleSelections: [{ sopClassUid: uid, scuRole: true, scpRole: false }],
        },
      }),
    );
    await expectAbort(c);
    expect(h.logs.some((l) => l.includes('internal error'))).toBe(true);
    await expectServerHealthy(h.port);
  });

  it('rejects associations beyond maxAssociations (transient, local limit)', async () => {
    h = await startHarness({ options: { maxAssociations: 1 } });
    await associate(h.port);
    const c = await connect(h.port);
    c.write(associateRqPdu());
    const pdu = await c.nextPdu();
    expect(parseAssociateRj(pdu!.body)).toEqual({ result: 2, source: 3, reason: 2 });
  });
});

describe('C-ECHO, C-STORE and other commands', () => {
  it('parses a whole conversation delivered one byte at a time', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    const dataset = Buffer.from('pretend this is a data set!!');
    const bytes = Buffer.concat([
      associateRqPdu({ contexts: CONTEXTS }),
      // The command split over two PDVs in two PDUs, the data set over two PDVs in one PDU.
      (() => {
        const cmd = commandPdu(3, storeRq(1));
        const data = parsePDataTf(cmd.subarray(6))[0]!.data;
        return Buffer.concat([
          encodePDataTf([
            {
              presentationContextId: 3,
              isCommand: true,
              isLast: false,
              data: data.subarray(0, 10),
            },
          ]),
          encodePDataTf([
            { presentationContextId: 3, isCommand: true, isLast: true, data: data.subarray(10) },
          ]),
        ]);
      })(),
      encodePDataTf([
        { presentationContextId: 3, isCommand: false, isLast: false, data: dataset.subarray(0, 5) },
        { presentationContextId: 3, isCommand: false, isLast: true, data: dataset.subarray(5) },
      ]),
    ]);
    for (const byte of bytes) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect((await c.nextPdu())?.type).toBe(PduType.AssociateAc);
    const rsp = await nextResponse(c);
    expect(rsp).toMatchObject({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 1,
      affectedSopClassUid: CT_IMAGE_STORAGE,
      affectedSopInstanceUid: '1.2.3.1',
      commandDataSetType: NO_DATA_SET,
      status: 0,
    });
    expect(h.stores[0]!.bytes!.equals(dataset)).toBe(true);
    expect(h.stores[0]!.req).toMatchObject({
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      presentationContextId: 3,
    });
  });

  it('answers unknown commands with 0x0211 and carries on', async () => {
    h = await startHarness();
    const c = await associate(h.port);
    // A C-FIND-RQ with an identifier: the data set must be swallowed before answering.
    c.write(
      commandPdu(3, {
        commandField: CommandField.CFindRq,
        messageId: 5,
        affectedSopClassUid: CT_IMAGE_STORAGE,
        priority: 0,
        commandDataSetType: DATA_SET_PRESENT,
      }),
    );
    c.write(dataPdu(3, Buffer.alloc(64, 1), true));
    const rsp = await nextResponse(c);
    expect(rsp).toMatchObject({
      commandField: 0x8020,
      messageIdBeingRespondedTo: 5,
      status: 0x0211,
    });
    c.write(
      commandPdu(1, {
        commandField: CommandField.NActionRq,
        messageId: 6,
        requestedSopClassUid: '1.2.3',
        requestedSopInstanceUid: '1.2.3.4',
        actionTypeId: 1,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    expect(await nextResponse(c)).toMatchObject({
      commandField: CommandField.NActionRsp,
      messageIdBeingRespondedTo: 6,
      affectedSopClassUid: '1.2.3',
      affectedSopInstanceUid: '1.2.3.4',
      status: 0x0211,
    });
    c.write(
      commandPdu(1, {
        commandField: CommandField.CEchoRq,
        messageId: 7,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    expect(await nextResponse(c)).toMatchObject({ commandField: CommandField.CEchoRsp, status: 0 });
    c.write(encodeReleaseRq());
    expect((await c.nextPdu())?.type).toBe(PduType.ReleaseRp);
    expect(await c.waitClosed()).toBe(true);
  });

  it('routes other commands to onOtherCommand, with pending responses and C-CANCEL', async () => {
    let cancelled = false;
    h = await startHarness({
      handlers: {
        onOtherCommand: async (req, reply) => {
          if (req.command.commandField !== CommandField.CFindRq) return undefined;
          const identifier = await drain(req.data!, true);
          await reply.sendPending({ status: DimseStatus.Pending, dataset: identifier.bytes! });
          await new Promise<void>((resolve) =>
            req.signal.addEventListener('abort', () => resolve()),
          );
          cancelled = true;
          return { status: DimseStatus.Cancel };
        },
      },
    });
    const c = await associate(h.port);
    c.write(
      commandPdu(3, {
        commandField: CommandField.CFindRq,
        messageId: 9,
        affectedSopClassUid: CT_IMAGE_STORAGE,
        priority: 0,
        commandDataSetType: DATA_SET_PRESENT,
      }),
    );
    c.write(dataPdu(3, Buffer.from('query!'), true));
    const pending = await c.nextPdu();
    const pdvs = parsePDataTf(pending!.body);
    expect(decodeCommand(pdvs[0]!.data)).toMatchObject({
      commandField: 0x8020,
      status: 0xff00,
      commandDataSetType: 0,
    });
    const dataPdv = pdvs[1] ?? parsePDataTf((await c.nextPdu())!.body)[0]!;
    expect(dataPdv.data.toString()).toBe('query!');
    c.write(
      commandPdu(3, {
        commandField: CommandField.CCancelRq,
        messageIdBeingRespondedTo: 9,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    expect(await nextResponse(c)).toMatchObject({ messageIdBeingRespondedTo: 9, status: 0xfe00 });
    expect(cancelled).toBe(true);
  });

  it('answers a handler that settles early only once the data set is complete', async () => {
    h = await startHarness({
      handlers: {
        onStore: async () => ({
          status: DimseStatus.OutOfResources,
          errorComment: 'x'.repeat(100),
        }),
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(8000), false));
    // Give the handler time to settle while the data set is incomplete: no response yet.
    expect(await c.nextPdu(200)).toBeNull();
    for (let i = 0; i < 50; i++) c.write(dataPdu(3, Buffer.alloc(8000), false));
    c.write(dataPdu(3, Buffer.alloc(10), true));
    const rsp = await nextResponse(c);
    expect(rsp).toMatchObject({ status: 0xa700, messageIdBeingRespondedTo: 1 });
    expect(rsp.errorComment).toHaveLength(64);
    // The association is still usable.
    c.write(
      commandPdu(1, {
        commandField: CommandField.CEchoRq,
        messageId: 2,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    expect(await nextResponse(c)).toMatchObject({ status: 0 });
  });

  it('answers 0x0122 for a C-STORE whose SOP class is not accepted', async () => {
    h = await startHarness({
      handlers: { acceptsAbstractSyntax: (uid) => uid === CT_IMAGE_STORAGE },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, { ...storeRq(1), affectedSopClassUid: MR_IMAGE_STORAGE }));
    c.write(dataPdu(3, Buffer.alloc(10), true));
    expect(await nextResponse(c)).toMatchObject({
      status: 0x0122,
      affectedSopClassUid: MR_IMAGE_STORAGE,
    });
    expect(h.stores).toHaveLength(0);
  });

  it('applies backpressure: a slow handler never has more than ~one high-water mark buffered', async () => {
    let maxBuffered = 0;
    h = await startHarness({
      options: { maxPduLength: 65536 },
      handlers: {
        onStore: async (_req, data: Readable) => {
          let total = 0;
          for await (const chunk of data as AsyncIterable<Buffer>) {
            // The async iterator hands over everything buffered at once: chunk size = backlog.
            maxBuffered = Math.max(maxBuffered, chunk.length + data.readableLength);
            total += chunk.length;
            await new Promise((r) => setTimeout(r, 1));
          }
          return { status: total === 8 * 1024 * 1024 ? 0 : 0xc000 };
        },
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    const piece = Buffer.alloc(65536 - 6, 7);
    let sent = 0;
    const total = 8 * 1024 * 1024;
    while (sent < total) {
      const n = Math.min(piece.length, total - sent);
      sent += n;
      if (!c.socket.write(dataPdu(3, piece.subarray(0, n), sent === total))) {
        await new Promise((r) => c.socket.once('drain', r));
      }
    }
    expect(await nextResponse(c)).toMatchObject({ status: 0 });
    // High-water mark (64 KiB here) plus at most one socket read (64 KiB) and a PDU's worth.
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
  });
});

describe('hostile and broken input', () => {
  it.each([
    ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: strata\r\n\r\n'), AbortReason.UnrecognizedPdu],
    [
      'a 4 GiB A-ASSOCIATE-RQ',
      Buffer.from([0x01, 0, 0xff, 0xff, 0xff, 0xff, 0, 1]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'a 4 GiB P-DATA-TF before association',
      Buffer.from([0x04, 0, 0xff, 0xff, 0xff, 0xff]),
      AbortReason.UnexpectedPdu,
    ],
    ['an A-RELEASE-RQ before association', encodeReleaseRq(), AbortReason.UnexpectedPdu],
  ])('aborts on %s and keeps serving', async (_name, input, reason) => {
    h = await startHarness();
    const c = await connect(h.port);
    c.write(input);
    await expectAbort(c, reason);
    await expectServerHealthy(h.port);
    await waitFor(() => h!.server.activeAssociations === 0);
  });

  it('aborts an A-ASSOCIATE-RQ with 200 presentation contexts', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    const contexts = Array.from({ length: 200 }, (_, i) => ({
      id: (2 * i + 1) % 256,
      abstractSyntax: CT_IMAGE_STORAGE,
      transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN],
    }));
    c.write(associateRqPdu({ contexts }));
    await expectAbort(c);
    await expectServerHealthy(h.port);
  });

  it('aborts a truncated A-ASSOCIATE-RQ body (item past the end)', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    const rq = associateRqPdu();
    const cut = rq.subarray(0, rq.length - 10);
    cut.writeUInt32BE(cut.length - 6, 2); // consistent PDU length, inconsistent items
    c.write(cut);
    await expectAbort(c, AbortReason.InvalidPduParameterValue);
    await expectServerHealthy(h.port);
  });

  it('closes a connection that sends half a PDU and goes quiet (ARTIM)', async () => {
    h = await startHarness({ options: { artimTimeoutMs: 200 } });
    const c = await connect(h.port);
    c.write(associateRqPdu().subarray(0, 40));
    expect(await c.waitClosed(3000)).toBe(true);
    await expectServerHealthy(h.port);
  });

  it('survives a client that closes mid-PDU', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    c.write(associateRqPdu().subarray(0, 40));
    c.socket.end();
    await waitFor(() => h!.server.activeAssociations === 0);
    await expectServerHealthy(h.port);
  });

  it('aborts PDVs on unknown or rejected presentation contexts', async () => {
    h = await startHarness();
    const unknown = await associate(h.port);
    unknown.write(
      commandPdu(99, {
        commandField: CommandField.CEchoRq,
        messageId: 1,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    await expectAbort(unknown, AbortReason.UnexpectedPduParameter);

    const rejected = await associate(h.port);
    rejected.write(commandPdu(3, storeRq(1)));
    rejected.write(dataPdu(5, Buffer.alloc(16), true)); // context 5 was rejected
    await expectAbort(rejected, AbortReason.UnexpectedPduParameter);
    await expectServerHealthy(h.port);
  });

  it('aborts a data set PDV that no command announced', async () => {
    h = await startHarness();
    const c = await associate(h.port);
    c.write(dataPdu(3, Buffer.alloc(16), true));
    await expectAbort(c, AbortReason.UnexpectedPduParameter);
  });

  it('aborts a P-DATA-TF larger than our maximum PDU length', async () => {
    h = await startHarness({ options: { maxPduLength: 16384 } });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    const header = Buffer.from([0x04, 0, 0, 0, 0, 0]);
    header.writeUInt32BE(10 * 1024 * 1024, 2);
    c.write(header);
    await expectAbort(c, AbortReason.InvalidPduParameterValue);
  });

  it('aborts a malformed command set', async () => {
    h = await startHarness();
    const c = await associate(h.port);
    c.write(
      encodePDataTf([
        { presentationContextId: 1, isCommand: true, isLast: true, data: Buffer.from([1, 2, 3]) },
      ]),
    );
    await expectAbort(c, AbortReason.InvalidPduParameterValue);
    await expectServerHealthy(h.port);
  });

  it('destroys the handler stream with an error when the client drops mid-data-set', async () => {
    let streamError: Error | undefined;
    let handlerStarted = false;
    h = await startHarness({
      handlers: {
        onStore: async (_req, data) => {
          handlerStarted = true;
          try {
            await drain(data, false);
          } catch (err) {
            streamError = err as Error;
            throw err;
          }
          return { status: 0 };
        },
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(5000), false));
    await waitFor(() => handlerStarted);
    c.destroy();
    await waitFor(() => streamError !== undefined);
    expect(streamError!.message).toMatch(/before the data set was complete/);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]).toMatchObject({ how: 'dropped', stats: { stored: 0 } });
    await expectServerHealthy(h.port);
  });

  it('treats an A-ABORT from the peer mid-data-set the same way', async () => {
    let streamError: Error | undefined;
    h = await startHarness({
      handlers: {
        onStore: async (_req, data) => {
          await drain(data, false).catch((err: Error) => (streamError = err));
          return { status: 0 };
        },
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(100), false));
    c.write(encodeAbort(0, 0));
    await waitFor(() => streamError !== undefined && h!.closed.length === 1);
    expect(h.closed[0]!.how).toBe('aborted');
  });
});

describe('timeouts and shutdown', () => {
  it('aborts an idle association', async () => {
    h = await startHarness({ options: { idleTimeoutMs: 200 } });
    const c = await associate(h.port);
    await expectAbort(c);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]!.how).toBe('aborted');
  });

  it('aborts a peer that stalls in the middle of a data set', async () => {
    let streamError: Error | undefined;
    h = await startHarness({
      options: { idleTimeoutMs: 200 },
      handlers: {
        onStore: async (_req, data) => {
          await drain(data, false).catch((err: Error) => (streamError = err));
          return { status: 0 };
        },
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(100), false));
    await expectAbort(c);
    expect(streamError?.message).toMatch(/before the data set was complete/);
  });

  it('does not count a slow handler as idleness', async () => {
    h = await startHarness({
      options: { idleTimeoutMs: 100 },
      handlers: {
        onStore: async (_req, data) => {
          await drain(data, false);
          await new Promise((r) => setTimeout(r, 400));
          return { status: 0 };
        },
      },
    });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(10), true));
    expect(await nextResponse(c)).toMatchObject({ status: 0 });
  });

  it('close() lets the C-STORE in flight finish, then aborts, then resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h = await startHarness({
      handlers: {
        onStore: async (_req, data) => {
          await drain(data, false);
          await gate;
          return { status: 0 };
        },
      },
    });
    const busy = await associate(h.port);
    const idle = await associate(h.port);
    busy.write(commandPdu(3, storeRq(1)));
    busy.write(dataPdu(3, Buffer.alloc(100), true));
    await new Promise((r) => setTimeout(r, 50));
    const closing = h.server.close(5000);
    await expectAbort(idle); // idle associations are aborted right away
    setTimeout(release, 100);
    expect(await nextResponse(busy)).toMatchObject({ status: 0 });
    await expectAbort(busy);
    await closing;
    expect(h.server.activeAssociations).toBe(0);
    await expect(RawClient.connect(h.port)).rejects.toThrow();
  });

  it('close() aborts what is still running when the grace period ends', async () => {
    h = await startHarness({ handlers: { onStore: () => new Promise(() => {}) } });
    const c = await associate(h.port);
    c.write(commandPdu(3, storeRq(1)));
    c.write(dataPdu(3, Buffer.alloc(100), true));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await h.server.close(200);
    expect(Date.now() - started).toBeLessThan(2000);
    await expectAbort(c);
  });

  it('rejects an A-ASSOCIATE-RQ with an unknown protocol version', async () => {
    h = await startHarness();
    const c = await connect(h.port);
    const rq = associateRqPdu();
    rq.writeUInt16BE(0x0002, 6);
    c.write(rq);
    expect(parseAssociateRj((await c.nextPdu())!.body)).toEqual({
      result: 1,
      source: 3,
      reason: 2,
    });
    expect(DICOM_APPLICATION_CONTEXT).toBe('1.2.840.10008.3.1.1.1');
  });
});
