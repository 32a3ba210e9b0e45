// DimseClient against our own DimseServer, in-process: C-STORE streaming, N-EVENT-REPORT through
// the service registry, rejection, timeouts, and what happens when either side gives up.
// (Against dcmtk: dimse-client.interop.spec.ts.)

import { createHash } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandField } from './command.js';
import { DimseClient, type DimseClientOptions } from './dimse-client.js';
import {
  AssociationClosedError,
  AssociationRejectedError,
  DimseTimeoutError,
  NoPresentationContextError,
} from './errors.js';
import { IMPLICIT_VR_LITTLE_ENDIAN } from './pdu.js';
import { DimseServiceRegistry } from './service-registry.js';
import { DimseStatus } from './status.js';
import { drain, type Harness, startHarness, waitFor } from './testing/harness.js';
import {
  CT_IMAGE_STORAGE,
  EXPLICIT_VR_LITTLE_ENDIAN,
  part10InMemory,
  pixelPattern,
} from './testing/part10.js';
import { type OtherCommandRequest } from './types.js';

const COMMITMENT = '1.2.840.10008.1.20.1';
const COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';
const MiB = 1024 * 1024;

let h: Harness | undefined;
const clients: DimseClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  await h?.server.close(500);
  h = undefined;
});

async function connect(
  port: number,
  extra: Partial<DimseClientOptions> = {},
): Promise<DimseClient> {
  const client = await DimseClient.connect({
    host: '127.0.0.1',
    port,
    callingAet: 'STRATA_SCU',
    calledAet: 'STRATA',
    contexts: [
      {
        abstractSyntax: CT_IMAGE_STORAGE,
        transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
      },
    ],
    ...extra,
  });
  clients.push(client);
  return client;
}

function instance(i: number, pixelBytes = 4000): { uid: string; dataset: Buffer } {
  const uid = `1.2.826.0.1.3680043.10.1461.97.${i}`;
  return { uid, dataset: part10InMemory({ sopInstanceUid: uid, pixelBytes, seed: i }).dataset };
}

function store(client: DimseClient, uid: string, data: Readable | Buffer) {
  return client.store({
    sopClassUid: CT_IMAGE_STORAGE,
    sopInstanceUid: uid,
    transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
    data: Buffer.isBuffer(data) ? Readable.from([data]) : data,
  });
}

/** A Readable of `total` bytes made of a repeated pattern, in 64 KiB chunks, never in memory. */
function patternStream(total: number): { stream: Readable; sha256: string } {
  const block = pixelPattern(3, 64 * 1024);
  const hash = createHash('sha256');
  for (let left = total; left > 0; left -= block.length) {
    hash.update(left >= block.length ? block : block.subarray(0, left));
  }
  const stream = Readable.from(
    (function* () {
      for (let left = total; left > 0; left -= block.length) {
        yield left >= block.length ? block : block.subarray(0, left);
      }
    })(),
  );
  return { stream, sha256: hash.digest('hex') };
}

describe('DimseClient against DimseServer', () => {
  it('stores data sets byte for byte, one at a time, then releases', async () => {
    // A small max PDU on the server makes the client fragment (and coalesce) data sets.
    h = await startHarness({ options: { maxPduLength: 16384 } });
    const client = await connect(h.port, { maxPduLength: 32768 });
    expect(client.acceptedTransferSyntaxes(CT_IMAGE_STORAGE)).toEqual([EXPLICIT_VR_LITTLE_ENDIAN]);
    const sent = [instance(1, 0), instance(2, 16384 - 6 - 200), instance(3, 300_000)];
    // Queued at once: they still go one after another, each answered before the next.
    const results = await Promise.all(sent.map((s) => store(client, s.uid, s.dataset)));
    expect(results).toEqual([{ status: 0 }, { status: 0 }, { status: 0 }]);
    expect(h.stores.map((s) => s.req.affectedSopInstanceUid)).toEqual(sent.map((s) => s.uid));
    for (const [i, s] of h.stores.entries()) {
      expect(s.bytes!.equals(sent[i]!.dataset)).toBe(true);
      expect(s.req).toMatchObject({
        messageId: i + 1,
        priority: 0,
        transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
        association: { callingAet: 'STRATA_SCU', calledAet: 'STRATA' },
      });
    }
    await client.release();
    expect(await client.closed).toBe('released');
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]).toMatchObject({ how: 'released', stats: { stored: 3 } });
  });

  it('passes priority and the C-MOVE originator, and the status and comment back', async () => {
    h = await startHarness({
      handlers: {
        onStore: async (req, data) => {
          await drain(data, false);
          return req.moveOriginatorAet === 'ORIGIN' && req.moveOriginatorMessageId === 42
            ? { status: DimseStatus.CoercionOfDataElements, errorComment: 'coerced' }
            : { status: DimseStatus.ProcessingFailure };
        },
      },
    });
    const client = await connect(h.port);
    const { uid, dataset } = instance(4);
    const result = await client.store({
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: uid,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      data: Readable.from([dataset]),
      priority: 1,
      moveOriginator: { aet: 'ORIGIN', messageId: 42 },
    });
    expect(result).toEqual({ status: 0xb000, errorComment: 'coerced' });
  });

  it('streams a large data set in bounded memory', { timeout: 60_000 }, async () => {
    let received = { length: 0, sha256: '' };
    h = await startHarness({
      keepBytes: false,
      handlers: {
        onStore: async (_req, data) => {
          const got = await drain(data, false);
          received = { length: got.length, sha256: got.sha256 };
          return { status: 0 };
        },
      },
    });
    const client = await connect(h.port);
    const total = 256 * MiB + 3;
    const { stream, sha256 } = patternStream(total);
    globalThis.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
    try {
      expect(await store(client, '1.2.3.4.5', stream)).toEqual({ status: 0 });
    } finally {
      clearInterval(sampler);
    }
    expect(received).toEqual({ length: total, sha256 });
    // Both ends are in this process: each holds about a PDU and a socket buffer.
    expect((peak - baseline) / MiB).toBeLessThan(100);
  });

  it('sends N-EVENT-REPORT as SCP of Storage Commitment to a registered handler', async () => {
    const registry = new DimseServiceRegistry();
    const seen: OtherCommandRequest[] = [];
    let reportData: Buffer | null = null;
    registry.register({
      name: 'commitment-results',
      sopClasses: [COMMITMENT],
      handle: async (req) => {
        seen.push(req);
        reportData = (await drain(req.data!, true)).bytes;
        return { status: 0 };
      },
    });
    h = await startHarness({
      handlers: {
        acceptsAbstractSyntax: (uid) => registry.accepts(uid),
        // Here the server receives reports: the requester (our client) is the SCP.
        acceptsRequesterScpRole: (uid) => uid === COMMITMENT,
        onOtherCommand: (req, reply) => registry.dispatch(req, reply),
      },
    });
    const client = await connect(h.port, {
      contexts: [
        {
          abstractSyntax: COMMITMENT,
          transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
          role: { scu: false, scp: true },
        },
      ],
    });
    expect(client.acceptedTransferSyntaxes(COMMITMENT)).toEqual([EXPLICIT_VR_LITTLE_ENDIAN]);
    const dataset = Buffer.from('pretend event information');
    const result = await client.eventReport({
      sopClassUid: COMMITMENT,
      sopInstanceUid: COMMITMENT_INSTANCE,
      eventTypeId: 2,
      dataset,
    });
    expect(result).toEqual({ status: 0 });
    expect(seen[0]).toMatchObject({
      abstractSyntaxUid: COMMITMENT,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      command: {
        commandField: CommandField.NEventReportRq,
        messageId: 1,
        affectedSopClassUid: COMMITMENT,
        affectedSopInstanceUid: COMMITMENT_INSTANCE,
        eventTypeId: 2,
      },
    });
    expect(reportData!.equals(dataset)).toBe(true);
    // The client is not the SCU of Storage Commitment here, nor of CT: nothing else fits.
    await expect(
      client.eventReport({
        sopClassUid: COMMITMENT,
        sopInstanceUid: COMMITMENT_INSTANCE,
        eventTypeId: 1,
        dataset,
        transferSyntaxUid: IMPLICIT_VR_LITTLE_ENDIAN,
      }),
    ).rejects.toBeInstanceOf(NoPresentationContextError);
    await client.release();
  });

  it('rejects with AssociationRejectedError carrying the A-ASSOCIATE-RJ values', async () => {
    h = await startHarness();
    const err: unknown = await connect(h.port, { calledAet: 'NOT_STRATA' }).catch((e) => e);
    expect(err).toBeInstanceOf(AssociationRejectedError);
    expect(err).toMatchObject({ result: 1, source: 1, reason: 7 });
  });

  it('rejects with the socket error when nobody listens', async () => {
    h = await startHarness();
    const port = h.port;
    await h.server.close(100);
    h = undefined;
    await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('gives up on a peer that accepts the connection but never answers', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const started = Date.now();
      await expect(connect(port, { connectTimeoutMs: 200 })).rejects.toBeInstanceOf(
        DimseTimeoutError,
      );
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      silent.close();
    }
  });

  it('refuses a store no context fits without sending anything, and carries on', async () => {
    h = await startHarness();
    const client = await connect(h.port);
    const data = Readable.from([Buffer.alloc(10)]);
    await expect(
      client.store({
        sopClassUid: CT_IMAGE_STORAGE,
        sopInstanceUid: '1.2.3',
        transferSyntaxUid: IMPLICIT_VR_LITTLE_ENDIAN, // proposed, but ELE was accepted
        data,
      }),
    ).rejects.toBeInstanceOf(NoPresentationContextError);
    expect(data.destroyed).toBe(true);
    const { uid, dataset } = instance(5);
    expect(await store(client, uid, dataset)).toEqual({ status: 0 });
  });

  it('rejects with the source error and keeps the association if nothing was sent', async () => {
    h = await startHarness();
    const client = await connect(h.port);
    const failing = new Readable({
      read() {
        this.destroy(new Error('no such file'));
      },
    });
    await expect(store(client, '1.2.3', failing)).rejects.toThrow('no such file');
    const { uid, dataset } = instance(6);
    expect(await store(client, uid, dataset)).toEqual({ status: 0 });
    expect(h.stores).toHaveLength(1);
  });

  it('aborts the association when the source fails half way through', async () => {
    h = await startHarness();
    const client = await connect(h.port);
    // More than a fragment (1 MiB PDUs), so part of the data set is on the wire already.
    const failing = Readable.from(
      (async function* () {
        yield Buffer.alloc(3 * MiB);
        throw new Error('disk gone');
      })(),
    );
    await expect(store(client, '1.2.3', failing)).rejects.toThrow('disk gone');
    expect(await client.closed).toBe('aborted');
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]!.how).toBe('aborted');
    await expect(store(client, '1.2.3', Buffer.alloc(2))).rejects.toBeInstanceOf(
      AssociationClosedError,
    );
  });

  it('times out a missing response and aborts', async () => {
    h = await startHarness({ handlers: { onStore: () => new Promise(() => {}) } });
    const client = await connect(h.port, { responseTimeoutMs: 200 });
    await expect(store(client, '1.2.3', Buffer.alloc(10))).rejects.toBeInstanceOf(
      DimseTimeoutError,
    );
    expect(await client.closed).toBe('aborted');
  });

  it('rejects requests in flight and reports the close when the peer aborts', async () => {
    h = await startHarness({ handlers: { onStore: () => new Promise(() => {}) } });
    const client = await connect(h.port);
    const rejected = expect(store(client, '1.2.3', Buffer.alloc(10))).rejects.toBeInstanceOf(
      AssociationClosedError,
    );
    await new Promise((r) => setTimeout(r, 50));
    await h.server.close(100); // grace period over: the server aborts
    await rejected;
    expect(await client.closed).toBe('aborted');
    await expect(client.release()).rejects.toBeInstanceOf(AssociationClosedError);
  });
});
