// DimseClient as a Query/Retrieve SCU against our own DimseServer, in-process: C-FIND matches
// handed over with their data sets, C-MOVE's destination and counters, C-GET sub-operations taken
// on the same association, C-CANCEL, and the response timeout counting from the peer's last sign
// of work. (Against a real PACS: test/e2e/pacs-dimse-pull.test.ts, with Orthanc.)

import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandField } from './command.js';
import { DimseClient, type DimseClientOptions } from './dimse-client.js';
import { DimseTimeoutError } from './errors.js';
import { IMPLICIT_VR_LITTLE_ENDIAN } from './pdu.js';
import { type DimseServiceHandler, DimseServiceRegistry } from './service-registry.js';
import { DimseStatus } from './status.js';
import { drain, type Harness, startHarness } from './testing/harness.js';
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, part10InMemory } from './testing/part10.js';
import { type OtherCommandRequest, type QueryResponse } from './types.js';

const FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const MOVE = '1.2.840.10008.5.1.4.1.2.2.2';
const GET = '1.2.840.10008.5.1.4.1.2.2.3';
const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN];

let h: Harness | undefined;
const clients: DimseClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  await h?.server.close(500);
  h = undefined;
});

/** A server whose Query/Retrieve requests go to `handle`. */
async function serve(handle: DimseServiceHandler['handle']): Promise<Harness> {
  const registry = new DimseServiceRegistry();
  registry.register({ name: 'qr', sopClasses: [FIND, MOVE, GET], handle });
  h = await startHarness({
    handlers: {
      acceptsAbstractSyntax: (uid) => registry.accepts(uid) || uid === CT_IMAGE_STORAGE,
      acceptsRequesterScpRole: (uid) => uid === CT_IMAGE_STORAGE,
      onOtherCommand: (req, reply) => registry.dispatch(req, reply),
    },
  });
  return h;
}

async function connect(port: number, extra: Partial<DimseClientOptions> = {}) {
  const client = await DimseClient.connect({
    host: '127.0.0.1',
    port,
    callingAet: 'STRATA_SCU',
    calledAet: 'STRATA',
    contexts: [
      { abstractSyntax: FIND, transferSyntaxes: TS },
      { abstractSyntax: MOVE, transferSyntaxes: TS },
      { abstractSyntax: GET, transferSyntaxes: TS },
    ],
    ...extra,
  });
  clients.push(client);
  return client;
}

const identifier = Buffer.from('pretend identifier');

describe('DimseClient as a Query/Retrieve SCU', () => {
  it('C-FIND: every match arrives with its data set, in order, then the final status', async () => {
    const seen: OtherCommandRequest[] = [];
    let received: Buffer | null = null;
    const { port } = await serve(async (req, reply) => {
      seen.push(req);
      received = (await drain(req.data!, true)).bytes;
      for (let i = 0; i < 3; i++) {
        await reply.sendPending({
          status: DimseStatus.Pending,
          dataset: Buffer.from(`match-${i}`),
        });
      }
      return { status: DimseStatus.Success };
    });
    const client = await connect(port);
    const matches: QueryResponse[] = [];
    const final = await client.query({
      commandField: CommandField.CFindRq,
      sopClassUid: FIND,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
      onPending: (r) => matches.push(r),
    });
    expect(final).toMatchObject({ status: DimseStatus.Success, dataset: null });
    expect(matches.map((m) => m.dataset?.toString())).toEqual(['match-0', 'match-1', 'match-2']);
    expect(matches.every((m) => m.status === DimseStatus.Pending)).toBe(true);
    expect(received!.equals(identifier)).toBe(true);
    expect(seen[0]!.command).toMatchObject({
      commandField: CommandField.CFindRq,
      affectedSopClassUid: FIND,
      priority: 0,
    });
    // The association goes on: a second query gets its own answers.
    const again = await client.query({
      commandField: CommandField.CFindRq,
      sopClassUid: FIND,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
    });
    expect(again.status).toBe(DimseStatus.Success);
    await client.release();
  });

  it('C-MOVE: the destination reaches the SCP, counters come back in each response', async () => {
    let destination: string | undefined;
    const { port } = await serve(async (req, reply) => {
      destination = req.command.moveDestination;
      await drain(req.data!, false);
      await reply.sendPending({
        status: DimseStatus.Pending,
        command: { numberOfRemainingSuboperations: 1, numberOfCompletedSuboperations: 1 },
      });
      return {
        status: 0xb000,
        command: { numberOfCompletedSuboperations: 1, numberOfFailedSuboperations: 1 },
        dataset: Buffer.from('failed uid list'),
      };
    });
    const client = await connect(port);
    const pending: QueryResponse[] = [];
    const final = await client.query({
      commandField: CommandField.CMoveRq,
      sopClassUid: MOVE,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
      moveDestination: 'ARCHIVE',
      onPending: (r) => pending.push(r),
    });
    expect(destination).toBe('ARCHIVE');
    expect(pending[0]!.command.numberOfRemainingSuboperations).toBe(1);
    expect(final.status).toBe(0xb000);
    expect(final.command).toMatchObject({
      numberOfCompletedSuboperations: 1,
      numberOfFailedSuboperations: 1,
    });
    expect(final.dataset?.toString()).toBe('failed uid list');
  });

  it('C-GET: the sub-operations come on the same association, to onStore', async () => {
    const a = part10InMemory({ sopInstanceUid: '1.2.3.1', pixelBytes: 3000, seed: 1 }).dataset;
    const b = part10InMemory({ sopInstanceUid: '1.2.3.2', pixelBytes: 5000, seed: 2 }).dataset;
    const statuses: number[] = [];
    const { port } = await serve(async (req, reply) => {
      await drain(req.data!, false);
      for (const [uid, data] of [
        ['1.2.3.1', a],
        ['1.2.3.2', b],
      ] as const) {
        const r = await reply.store({
          sopClassUid: CT_IMAGE_STORAGE,
          sopInstanceUid: uid,
          transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
          data: Readable.from([data]),
        });
        statuses.push(r.status);
        await reply.sendPending({ status: DimseStatus.Pending });
      }
      return { status: DimseStatus.Success, command: { numberOfCompletedSuboperations: 2 } };
    });
    const got = new Map<string, Buffer>();
    const client = await connect(port, {
      contexts: [
        { abstractSyntax: GET, transferSyntaxes: TS },
        {
          abstractSyntax: CT_IMAGE_STORAGE,
          transferSyntaxes: TS,
          role: { scu: false, scp: true },
        },
      ],
      onStore: async (req, data) => {
        got.set(req.affectedSopInstanceUid, (await drain(data, true)).bytes!);
        return { status: req.affectedSopInstanceUid === '1.2.3.2' ? 0xa700 : 0 };
      },
    });
    const final = await client.query({
      commandField: CommandField.CGetRq,
      sopClassUid: GET,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
    });
    expect(final.command.numberOfCompletedSuboperations).toBe(2);
    expect(got.get('1.2.3.1')!.equals(a)).toBe(true);
    expect(got.get('1.2.3.2')!.equals(b)).toBe(true);
    // What onStore answered is what the SCP saw.
    expect(statuses).toEqual([0, 0xa700]);
  });

  it('an aborted signal sends C-CANCEL-RQ; the SCP stops and answers Cancel', async () => {
    let cancelled = false;
    const { port } = await serve(async (req, reply) => {
      await drain(req.data!, false);
      for (let i = 0; i < 1000 && !req.signal.aborted; i++) {
        await reply.sendPending({ status: DimseStatus.Pending, dataset: Buffer.from(`m${i}`) });
        await new Promise((r) => setTimeout(r, 5));
      }
      cancelled = req.signal.aborted;
      return { status: DimseStatus.Cancel };
    });
    const client = await connect(port);
    const stop = new AbortController();
    let count = 0;
    const final = await client.query({
      commandField: CommandField.CFindRq,
      sopClassUid: FIND,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
      signal: stop.signal,
      onPending: () => {
        if (++count === 3) stop.abort();
      },
    });
    expect(final.status).toBe(DimseStatus.Cancel);
    expect(cancelled).toBe(true);
    expect(count).toBeLessThan(50);
    await client.release();
  });

  it('the response timeout counts from the last pending response, not from the request', async () => {
    const { port } = await serve(async (req, reply) => {
      await drain(req.data!, false);
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await reply.sendPending({ status: DimseStatus.Pending });
      }
      if (req.command.priority === 2) await new Promise((r) => setTimeout(r, 1000));
      return { status: DimseStatus.Success };
    });
    const client = await connect(port, { responseTimeoutMs: 300 });
    const ok = await client.query({
      commandField: CommandField.CMoveRq,
      sopClassUid: MOVE,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      identifier,
      moveDestination: 'ARCHIVE',
    });
    expect(ok.status).toBe(DimseStatus.Success);
    // A peer that goes silent for longer than the timeout: the request fails, the association aborts.
    await expect(
      client.query({
        commandField: CommandField.CMoveRq,
        sopClassUid: MOVE,
        transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
        identifier,
        moveDestination: 'ARCHIVE',
        priority: 2,
      }),
    ).rejects.toBeInstanceOf(DimseTimeoutError);
    expect(await client.closed).toBe('aborted');
  });
});
