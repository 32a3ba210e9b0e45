import { type Response } from 'express';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { type CatalogReadService, type RetrievableInstance } from '../catalog/index.js';
import { type BlobStore } from '../storage/index.js';
import { type RetrievalAudit, type RetrievalRecord } from './retrieval-audit.service.js';
import { type RestoreCoordinator } from './restore-coordinator.service.js';
import { WadoService } from './wado.service.js';

/** An express Response stand-in: a Writable that records what was written and how it ended. */
class FakeResponse extends Writable {
  chunks: Buffer[] = [];
  statusCode = 0;
  headers: Record<string, string> = {};
  /** Whether at least one write had to wait for 'drain'. */
  waited = false;

  constructor(highWaterMark = 1 << 20) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    // A slow client: each write completes a little later.
    setImmediate(cb);
  }

  override write(chunk: Buffer | string): boolean {
    const ok = super.write(chunk);
    if (!ok) this.waited = true;
    return ok;
  }

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  setHeader(name: string, value: string): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const STUDY = '1.2.3';
const TS = '1.2.840.10008.1.2.1';

function instance(n: number, size: number): RetrievableInstance {
  return {
    id: String(n),
    studyInstanceUid: STUDY,
    seriesInstanceUid: '1.2.3.4',
    sopInstanceUid: `1.2.3.4.${n}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    patientId: 'P1',
    transferSyntaxUid: TS,
    size,
    bulkTag: null,
    bulkOffset: null,
    location: { backend: 'local', key: `k${n}`, tier: 'hot' },
  };
}

function setup(instances: RetrievableInstance[], open: (key: string) => Readable) {
  const records: RetrievalRecord[] = [];
  const catalog = {
    findInstancesForRetrieval: vi.fn(async () => instances),
  } as unknown as CatalogReadService;
  const blobs = {
    openPlaintext: vi.fn(async (loc: { key: string }) => open(loc.key)),
  } as unknown as BlobStore;
  const audit = {
    retrieved: vi.fn(async (r: RetrievalRecord) => void records.push(r)),
  } as unknown as RetrievalAudit;
  // Hot copies: nothing to restore.
  const restores = {
    requireReady: vi.fn(async () => undefined),
  } as unknown as RestoreCoordinator;
  const service = new WadoService(catalog, blobs, audit, restores);
  const who = { actor: 'tester', role: 'admin', host: '127.0.0.1' };
  return { service, records, blobs, who };
}

/** A stream of `size` bytes of `fill`, in 64 KiB chunks, produced only when read. */
function bytes(size: number, fill: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, 64 * 1024);
      left -= n;
      this.push(Buffer.alloc(n, fill));
    },
  });
}

describe('WadoService', () => {
  it('streams each instance as a part with a Part 10 meta header, then audits the count', async () => {
    const { service, records } = setup([instance(1, 100_000), instance(2, 10)], (key) =>
      bytes(key === 'k1' ? 100_000 : 10, key === 'k1' ? 1 : 2),
    );
    const res = new FakeResponse(16 * 1024);
    await service.retrieve(
      { studyInstanceUid: STUDY },
      { any: true },
      { actor: 'tester', role: null, host: null },
      res as unknown as Response,
    );
    if (!res.writableFinished) await once(res, 'finish');
    expect(res.statusCode).toBe(200);
    const boundary = /boundary=(\S+)/.exec(res.headers['content-type']!)![1]!;
    const body = res.body.toString('latin1');
    expect(
      body.startsWith(
        `--${boundary}\r\nContent-Type: application/dicom; transfer-syntax=${TS}\r\n`,
      ),
    ).toBe(true);
    expect(body.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
    expect(body.split(`--${boundary}\r\n`)).toHaveLength(3);
    expect(body).toContain('DICM');
    expect(res.writableEnded).toBe(true);
    // The slow client made the writer wait instead of buffering everything.
    expect(res.waited).toBe(true);
    expect(records).toEqual([
      expect.objectContaining({
        kind: 'instances',
        instances: 2,
        planned: 2,
        complete: true,
        patientId: 'P1',
      }),
    ]);
  });

  it('opens each object only when the previous one is sent', async () => {
    const opened: string[] = [];
    const { service } = setup([instance(1, 10), instance(2, 10), instance(3, 10)], (key) => {
      opened.push(key);
      return bytes(10, 0);
    });
    const res = new FakeResponse();
    await service.retrieve(
      { studyInstanceUid: STUDY },
      { any: true },
      { actor: 'a', role: null, host: null },
      res as unknown as Response,
    );
    expect(opened).toEqual(['k1', 'k2', 'k3']);
  });

  it('a storage failure mid-stream destroys the response (no well-formed body) and audits a failure', async () => {
    const { service, records } = setup([instance(1, 10), instance(2, 200_000)], (key) => {
      if (key === 'k1') return bytes(10, 1);
      let sent = false;
      return new Readable({
        read() {
          if (!sent) {
            sent = true;
            this.push(Buffer.alloc(64 * 1024, 9));
          } else this.destroy(new Error('decryption failed'));
        },
      });
    });
    const res = new FakeResponse();
    await service.retrieve(
      { studyInstanceUid: STUDY },
      { any: true },
      { actor: 'a', role: null, host: null },
      res as unknown as Response,
    );
    expect(res.destroyed).toBe(true);
    expect(res.writableEnded).toBe(false);
    expect(res.body.toString('latin1')).not.toMatch(/--\r\n$/);
    expect(records).toEqual([
      expect.objectContaining({ instances: 1, planned: 2, complete: false }),
    ]);
  });

  it('a client that goes away stops the read from storage', async () => {
    let source: Readable | undefined;
    const { service, records } = setup(
      [instance(1, 50 * 1024 * 1024)],
      () => (source = bytes(50 * 1024 * 1024, 3)),
    );
    const res = new FakeResponse(64 * 1024);
    setTimeout(() => res.destroy(), 20);
    await service.retrieve(
      { studyInstanceUid: STUDY },
      { any: true },
      { actor: 'a', role: null, host: null },
      res as unknown as Response,
    );
    expect(source!.destroyed).toBe(true);
    expect(res.body.length).toBeLessThan(50 * 1024 * 1024);
    expect(records[0]).toMatchObject({ complete: false, instances: 0 });
  });

  it('refuses before sending anything: 404, 406 for another transfer syntax, 503 without a readable copy', async () => {
    const who = { actor: 'a', role: null, host: null };
    const none = setup([], () => bytes(1, 0));
    await expect(
      none.service.retrieve(
        { studyInstanceUid: STUDY },
        { any: true },
        who,
        new FakeResponse() as unknown as Response,
      ),
    ).rejects.toMatchObject({ status: 404 });
    const jpeg = setup([instance(1, 10)], () => bytes(10, 0));
    await expect(
      jpeg.service.retrieve(
        { studyInstanceUid: STUDY },
        { any: false, uids: new Set(['1.2.840.10008.1.2.4.50']) },
        who,
        new FakeResponse() as unknown as Response,
      ),
    ).rejects.toMatchObject({ status: 406 });
    await expect(
      jpeg.service.retrieve(
        { studyInstanceUid: STUDY },
        { any: false, uids: new Set([TS]) },
        who,
        new FakeResponse() as unknown as Response,
      ),
    ).resolves.toBeUndefined();
    const lost = setup([{ ...instance(1, 10), location: null }], () => bytes(10, 0));
    await expect(
      lost.service.retrieve(
        { studyInstanceUid: STUDY },
        { any: true },
        who,
        new FakeResponse() as unknown as Response,
      ),
    ).rejects.toMatchObject({ status: 503 });
    expect(none.records.length + lost.records.length).toBe(0);
  });
});
