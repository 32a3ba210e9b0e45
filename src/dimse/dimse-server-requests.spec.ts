// Requests the server sends on an incoming association, driven from a raw socket: C-STORE
// sub-operations of a C-GET (with role selection), C-CANCEL while they run, Storage Commitment
// N-EVENT-REPORTs on the requester's association, and the ways those can go wrong.
// (dcmtk getscu against the same: dimse-get.interop.spec.ts.)

import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CommandField,
  DATA_SET_PRESENT,
  decodeCommand,
  type DimseCommand,
  hasDataSet,
  NO_DATA_SET,
} from './command.js';
import { AssociationClosedError, NoPresentationContextError } from './errors.js';
import {
  AbortReason,
  encodeReleaseRq,
  IMPLICIT_VR_LITTLE_ENDIAN,
  parseAbort,
  parseAssociateAc,
  parsePDataTf,
  PduType,
  type PresentationContextProposal,
  type RoleSelection,
} from './pdu.js';
import { DimseServiceRegistry, type DimseServiceHandler } from './service-registry.js';
import { DimseStatus } from './status.js';
import { drain, type Harness, rawEcho, startHarness, waitFor } from './testing/harness.js';
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN } from './testing/part10.js';
import { associateRqPdu, commandPdu, dataPdu, RawClient } from './testing/raw-client.js';
import { type DimseResult, type DimseReplyChannel, type OtherCommandRequest } from './types.js';

const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';
const COMMITMENT = '1.2.840.10008.1.20.1';
const COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';
/** What the raw client announces: our fragments must fit in it. */
const CLIENT_MAX_PDU = 16384;

const GET_CONTEXTS: PresentationContextProposal[] = [
  { id: 1, abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
  { id: 3, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
  { id: 5, abstractSyntax: COMMITMENT, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
];
const GET_ROLES: RoleSelection[] = [
  { sopClassUid: CT_IMAGE_STORAGE, scuRole: false, scpRole: true },
];

let h: Harness | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await h?.server.close(500);
  h = undefined;
});

/** A server whose registry routes the given handler's SOP classes (and accepts them). */
async function startWith(
  handle: (req: OtherCommandRequest, reply: DimseReplyChannel) => Promise<DimseResult>,
  options: { idleTimeoutMs?: number } = {},
): Promise<Harness> {
  const registry = new DimseServiceRegistry();
  const handler: DimseServiceHandler = {
    name: 'test',
    sopClasses: [STUDY_ROOT_GET, COMMITMENT],
    handle,
  };
  registry.register(handler);
  return startHarness({
    options,
    handlers: {
      acceptsAbstractSyntax: (uid) => uid === CT_IMAGE_STORAGE || registry.accepts(uid),
      onOtherCommand: (req, reply) => registry.dispatch(req, reply),
    },
  });
}

async function associate(roles = GET_ROLES): Promise<RawClient> {
  const c = await RawClient.connect(h!.port);
  clients.push(c);
  c.write(
    associateRqPdu({ contexts: GET_CONTEXTS, roleSelections: roles, maxPduLength: CLIENT_MAX_PDU }),
  );
  const ac = await c.nextPdu();
  expect(ac?.type).toBe(PduType.AssociateAc);
  expect(parseAssociateAc(ac!.body).presentationContexts.every((pc) => pc.result === 0)).toBe(true);
  return c;
}

interface RawMessage {
  pcId: number;
  command: DimseCommand;
  data: Buffer | null;
  fragmentSizes: number[];
}

/** The next whole message (command and data set) from the server. */
async function nextMessage(c: RawClient): Promise<RawMessage> {
  const commandParts: Buffer[] = [];
  const dataParts: Buffer[] = [];
  let command: DimseCommand | null = null;
  for (;;) {
    const pdu = await c.nextPdu();
    if (pdu?.type !== PduType.PDataTf) throw new Error(`expected P-DATA-TF, got ${pdu?.type}`);
    for (const pdv of parsePDataTf(Buffer.from(pdu.body))) {
      (pdv.isCommand ? commandParts : dataParts).push(pdv.data);
      const done = pdv.isCommand
        ? pdv.isLast && !hasDataSet((command = decodeCommand(Buffer.concat(commandParts))))
        : pdv.isLast;
      if (done) {
        return {
          pcId: pdv.presentationContextId,
          command: command!,
          data: command!.commandDataSetType === NO_DATA_SET ? null : Buffer.concat(dataParts),
          fragmentSizes: dataParts.map((d) => d.length),
        };
      }
    }
  }
}

/** A C-GET-RQ and its identifier. */
function sendGet(c: RawClient, messageId: number): void {
  c.write(
    commandPdu(1, {
      commandField: CommandField.CGetRq,
      messageId,
      affectedSopClassUid: STUDY_ROOT_GET,
      priority: 0,
      commandDataSetType: DATA_SET_PRESENT,
    }),
  );
  c.write(dataPdu(1, Buffer.from('identifier'), true));
}

/** A CT sub-operation from a handler: a small data set unless one is given. */
function storeCt(
  reply: DimseReplyChannel,
  sopInstanceUid: string,
  data: Readable = Readable.from([Buffer.alloc(10)]),
): Promise<DimseResult> {
  return reply.store({
    sopClassUid: CT_IMAGE_STORAGE,
    sopInstanceUid,
    transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
    data,
  });
}

function storeRsp(rq: DimseCommand, status: number, messageId = rq.messageId): Buffer {
  return commandPdu(3, {
    commandField: CommandField.CStoreRsp,
    messageIdBeingRespondedTo: messageId,
    affectedSopClassUid: rq.affectedSopClassUid,
    affectedSopInstanceUid: rq.affectedSopInstanceUid,
    commandDataSetType: NO_DATA_SET,
    status,
  });
}

function instanceData(i: number, length: number): Buffer {
  return Buffer.alloc(length, i);
}

describe('C-STORE sub-operations on the requester association (C-GET)', () => {
  it('sends them on the contexts it took the SCP role for, between pending responses', async () => {
    const results: DimseResult[] = [];
    let syntaxes: string[] = [];
    const sizes = [40_000, 0];
    h = await startWith(async (req, reply) => {
      await drain(req.data!, false);
      syntaxes = reply.storageTransferSyntaxes(CT_IMAGE_STORAGE);
      for (const [i, size] of sizes.entries()) {
        const result = await reply.store({
          sopClassUid: CT_IMAGE_STORAGE,
          sopInstanceUid: `1.2.3.${i}`,
          transferSyntaxUid: syntaxes[0]!,
          data: Readable.from([instanceData(i, size)]),
          priority: 2,
        });
        results.push(result);
        await reply.sendPending({
          status: DimseStatus.Pending,
          command: {
            numberOfRemainingSuboperations: sizes.length - i - 1,
            numberOfCompletedSuboperations: i + 1,
            numberOfFailedSuboperations: 0,
            numberOfWarningSuboperations: 0,
          },
        });
      }
      return { status: DimseStatus.Success };
    });
    const c = await associate();
    sendGet(c, 7);
    for (const [i, size] of sizes.entries()) {
      const sub = await nextMessage(c);
      expect(sub.pcId).toBe(3);
      expect(sub.command).toEqual({
        commandField: CommandField.CStoreRq,
        messageId: i + 1,
        affectedSopClassUid: CT_IMAGE_STORAGE,
        affectedSopInstanceUid: `1.2.3.${i}`,
        priority: 2,
        commandDataSetType: DATA_SET_PRESENT,
      });
      expect(sub.data!.equals(instanceData(i, size))).toBe(true);
      expect(Math.max(...sub.fragmentSizes)).toBeLessThanOrEqual(CLIENT_MAX_PDU - 6);
      c.write(storeRsp(sub.command, i === 0 ? 0 : DimseStatus.CoercionOfDataElements));
      const pending = await nextMessage(c);
      expect(pending.command).toMatchObject({
        commandField: CommandField.CGetRsp,
        messageIdBeingRespondedTo: 7,
        status: DimseStatus.Pending,
        numberOfCompletedSuboperations: i + 1,
      });
    }
    const final = await nextMessage(c);
    expect(final.command).toMatchObject({ messageIdBeingRespondedTo: 7, status: 0 });
    expect(syntaxes).toEqual([EXPLICIT_VR_LITTLE_ENDIAN]);
    expect(results).toEqual([{ status: 0 }, { status: 0xb000 }]);
  });

  it('routes a C-CANCEL to the C-GET handler while it waits for a sub-operation', async () => {
    let outcome: DimseResult | undefined;
    h = await startWith(async (req, reply) => {
      await drain(req.data!, false);
      outcome = await storeCt(reply, '1.2.3.1');
      if (!req.signal.aborted) {
        await new Promise((resolve) => req.signal.addEventListener('abort', resolve));
      }
      return { status: DimseStatus.Cancel, command: { numberOfCompletedSuboperations: 1 } };
    });
    const c = await associate();
    sendGet(c, 3);
    const sub = await nextMessage(c);
    // The cancel overtakes the sub-operation's response: both must reach the handler.
    c.write(
      commandPdu(1, {
        commandField: CommandField.CCancelRq,
        messageIdBeingRespondedTo: 3,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    c.write(storeRsp(sub.command, 0));
    const final = await nextMessage(c);
    expect(final.command).toMatchObject({
      commandField: CommandField.CGetRsp,
      messageIdBeingRespondedTo: 3,
      status: DimseStatus.Cancel,
      numberOfCompletedSuboperations: 1,
    });
    expect(outcome).toEqual({ status: 0 });
    expect(await rawEcho(h.port)).toBe(0);
  });

  it('has no context to store on when the requester did not take the SCP role', async () => {
    let syntaxes: string[] | undefined;
    let error: unknown;
    const data = Readable.from([Buffer.alloc(10)]);
    h = await startWith(async (req, reply) => {
      await drain(req.data!, false);
      syntaxes = reply.storageTransferSyntaxes(CT_IMAGE_STORAGE);
      error = await storeCt(reply, '1.2.3', data).catch((e: unknown) => e);
      return { status: 0xa702 };
    });
    const c = await associate([]);
    sendGet(c, 1);
    expect((await nextMessage(c)).command).toMatchObject({ status: 0xa702 });
    expect(syntaxes).toEqual([]);
    expect(error).toBeInstanceOf(NoPresentationContextError);
    expect(data.destroyed).toBe(true);
  });

  it('rejects a sub-operation whose requester goes away, and ends the handler', async () => {
    let error: unknown;
    let storeStarted = false;
    let signalAborted = false;
    h = await startWith(async (req, reply) => {
      await drain(req.data!, false);
      storeStarted = true;
      error = await storeCt(reply, '1.2.3').catch((e: unknown) => e);
      signalAborted = req.signal.aborted;
      return { status: 0 };
    });
    const c = await associate();
    sendGet(c, 1);
    await nextMessage(c);
    expect(storeStarted).toBe(true);
    c.destroy();
    await waitFor(() => error !== undefined);
    expect(error).toBeInstanceOf(AssociationClosedError);
    expect(signalAborted).toBe(true);
  });

  it('aborts a requester that never answers a sub-operation (idle timeout)', async () => {
    let error: unknown;
    h = await startWith(
      async (req, reply) => {
        await drain(req.data!, false);
        error = await storeCt(reply, '1.2.3').catch((e: unknown) => e);
        return { status: 0 };
      },
      { idleTimeoutMs: 200 },
    );
    const c = await associate();
    sendGet(c, 1);
    await nextMessage(c);
    expect((await c.nextPdu())?.type).toBe(PduType.Abort);
    await waitFor(() => error !== undefined);
    expect(error).toBeInstanceOf(AssociationClosedError);
  });

  it('aborts on a response to no request of ours', async () => {
    h = await startWith(async () => ({ status: 0 }));
    const c = await associate();
    c.write(
      storeRsp(
        {
          commandField: CommandField.CStoreRq,
          affectedSopClassUid: CT_IMAGE_STORAGE,
          commandDataSetType: 0,
        },
        0,
        99,
      ),
    );
    const pdu = await c.nextPdu();
    expect(pdu?.type).toBe(PduType.Abort);
    expect(parseAbort(pdu!.body).reason).toBe(AbortReason.UnexpectedPduParameter);
  });
});

describe('N-EVENT-REPORT on the requester association (Storage Commitment)', () => {
  /** As Storage Commitment does: answer the N-ACTION first, report once the checks are done. */
  function reportLater(reply: DimseReplyChannel, delayMs: number): Promise<DimseResult> {
    const report = new Promise<DimseResult>((resolve, reject) =>
      setTimeout(() => {
        reply
          .eventReport({
            sopClassUid: COMMITMENT,
            sopInstanceUid: COMMITMENT_INSTANCE,
            eventTypeId: 1,
            dataset: Buffer.from('event information!'),
          })
          .then(resolve, reject);
      }, delayMs),
    );
    report.catch(() => undefined); // the test asserts it, maybe after it settled
    return report;
  }

  function sendNAction(c: RawClient, messageId: number, actionInformation?: Buffer): void {
    c.write(
      commandPdu(5, {
        commandField: CommandField.NActionRq,
        messageId,
        requestedSopClassUid: COMMITMENT,
        requestedSopInstanceUid: COMMITMENT_INSTANCE,
        actionTypeId: 1,
        commandDataSetType: actionInformation ? DATA_SET_PRESENT : NO_DATA_SET,
      }),
    );
    if (actionInformation) c.write(dataPdu(5, actionInformation, true));
  }

  it('reports after answering the N-ACTION, on its context, and resolves with the status', async () => {
    let report!: Promise<DimseResult>;
    let action: DimseCommand | undefined;
    h = await startWith(async (req, reply) => {
      action = req.command;
      await drain(req.data!, false);
      report = reportLater(reply, 20);
      return { status: 0 };
    });
    const c = await associate();
    sendNAction(c, 11, Buffer.from('action information'));
    expect((await nextMessage(c)).command).toMatchObject({
      commandField: CommandField.NActionRsp,
      messageIdBeingRespondedTo: 11,
      affectedSopClassUid: COMMITMENT,
      affectedSopInstanceUid: COMMITMENT_INSTANCE,
      status: 0,
    });
    const rq = await nextMessage(c);
    expect(rq.pcId).toBe(5);
    expect(rq.command).toEqual({
      commandField: CommandField.NEventReportRq,
      messageId: 1,
      affectedSopClassUid: COMMITMENT,
      affectedSopInstanceUid: COMMITMENT_INSTANCE,
      eventTypeId: 1,
      commandDataSetType: DATA_SET_PRESENT,
    });
    expect(rq.data!.toString()).toBe('event information!');
    // A response with an Event Reply data set: taken as the answer, its data set dropped.
    c.write(
      commandPdu(5, {
        commandField: CommandField.NEventReportRsp,
        messageIdBeingRespondedTo: 1,
        affectedSopClassUid: COMMITMENT,
        affectedSopInstanceUid: COMMITMENT_INSTANCE,
        eventTypeId: 1,
        commandDataSetType: DATA_SET_PRESENT,
        status: 0x0107,
        errorComment: 'attribute list error',
      }),
    );
    c.write(dataPdu(5, Buffer.from('event reply'), false));
    c.write(dataPdu(5, Buffer.from('!'), true));
    expect(await report).toEqual({ status: 0x0107, errorComment: 'attribute list error' });
    expect(action).toMatchObject({ requestedSopClassUid: COMMITMENT, actionTypeId: 1 });
    // Still in step: an echo on the same association works.
    c.write(
      commandPdu(1, {
        commandField: CommandField.CEchoRq,
        messageId: 12,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    expect((await nextMessage(c)).command).toMatchObject({ commandField: 0x8030, status: 0 });
  });

  it('sends no report once the requester asked to release: it would not answer', async () => {
    let report!: Promise<DimseResult>;
    h = await startWith(async (_req, reply) => {
      report = reportLater(reply, 100);
      return { status: 0 };
    });
    const c = await associate();
    sendNAction(c, 1);
    expect((await nextMessage(c)).command).toMatchObject({ status: 0 });
    c.write(encodeReleaseRq());
    expect((await c.nextPdu())?.type).toBe(PduType.ReleaseRp);
    await expect(report).rejects.toBeInstanceOf(AssociationClosedError);
    expect(await c.nextPdu(200)).toBeNull();
  });
});
