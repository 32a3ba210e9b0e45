import { type Response } from 'express';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { type CatalogReadService, type RetrievableInstance } from '../catalog/index.js';
import { MetadataService } from './metadata.service.js';
import { type RetrievalAudit, type RetrievalRecord } from './retrieval-audit.service.js';

class FakeResponse extends Writable {
  chunks: string[] = [];
  statusCode = 0;
  contentType = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
  status(code: number): this {
    this.statusCode = code;
    return this;
  }
  type(t: string): this {
    this.contentType = t;
    return this;
  }
}

function inst(n: number): RetrievableInstance {
  return {
    id: String(n),
    studyInstanceUid: '1.2',
    seriesInstanceUid: '1.2.3',
    sopInstanceUid: `1.2.3.${n}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    patientId: 'P',
    transferSyntaxUid: '1.2.840.10008.1.2',
    size: 1,
    bulkTag: '7FE00010',
    bulkOffset: 10,
    location: null,
    metadata: {
      '00080018': { vr: 'UI', Value: [`1.2.3.${n}`] },
      '7FE00010': { vr: 'OW', BulkDataURI: '' },
    },
  };
}

function setup(batches: RetrievableInstance[][]) {
  const records: RetrievalRecord[] = [];
  const catalog = {
    instanceMetadataBatches: vi.fn(async function* () {
      yield* batches;
    }),
  } as unknown as CatalogReadService;
  const audit = {
    retrieved: vi.fn(async (r: RetrievalRecord) => void records.push(r)),
  } as unknown as RetrievalAudit;
  return { service: new MetadataService(catalog, audit), records };
}

const who = { actor: 'a', role: null, host: null };

describe('MetadataService', () => {
  it('streams one JSON array across batches, bulk placeholders as URLs, written per batch', async () => {
    const { service, records } = setup([[inst(1), inst(2)], [inst(3)]]);
    const res = new FakeResponse();
    await service.stream(
      { studyInstanceUid: '1.2' },
      'application/dicom+json',
      'http://h/dicomweb',
      who,
      res as unknown as Response,
    );
    if (!res.writableFinished) await once(res, 'finish');
    expect(res.statusCode).toBe(200);
    expect(res.chunks.length).toBeGreaterThanOrEqual(4); // '[', two batches, ']'
    const json = JSON.parse(res.chunks.join('')) as Array<
      Record<string, { BulkDataURI?: string; Value?: unknown[] }>
    >;
    expect(json.map((m) => m['00080018']!.Value![0])).toEqual(['1.2.3.1', '1.2.3.2', '1.2.3.3']);
    expect(json[2]!['7FE00010']!.BulkDataURI).toBe(
      'http://h/dicomweb/studies/1.2/series/1.2.3/instances/1.2.3.3/bulkdata/7FE00010',
    );
    expect(records).toEqual([
      expect.objectContaining({ kind: 'metadata', instances: 3, complete: true }),
    ]);
  });

  it('404 when nothing matches, before any byte', async () => {
    const { service, records } = setup([]);
    const res = new FakeResponse();
    await expect(
      service.stream(
        { studyInstanceUid: '1.2', seriesInstanceUid: '1.3' },
        'application/dicom+json',
        'b',
        who,
        res as unknown as Response,
      ),
    ).rejects.toMatchObject({ status: 404 });
    expect(res.chunks).toEqual([]);
    expect(records).toEqual([]);
  });
});
