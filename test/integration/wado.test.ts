import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeneratedInstance, makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { datasetOf, parseMultipart } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

type Json = Record<
  string,
  { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }
>;

/**
 * WADO-RS against the real app: what STOW-RS stored comes back byte for byte, in every stored
 * transfer syntax, with metadata whose BulkDataURIs work; errors and audit as PS3.18 and the
 * archive's promises say.
 */
let strata: TestStrata;

const STUDY = newUid();
const SERIES_IMPLICIT = newUid();
const SERIES_OTHER = newUid();
const JPEG_STUDY = newUid();
const DEFLATED_STUDY = newUid();
const ICC = Buffer.alloc(2048);
for (let i = 0; i < ICC.length; i++) ICC[i] = (i * 7) & 0xff;
const NESTED = Buffer.alloc(1500, 0x5a);

let implicit: GeneratedInstance[];
let explicit: GeneratedInstance;
let withBulkHeader: GeneratedInstance;
let jpeg: GeneratedInstance;
let deflated: GeneratedInstance;
let big: GeneratedInstance;

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(path.startsWith('http') ? path : `${strata.httpUrl}${path}`, {
    headers: { authorization: strata.auth, ...headers },
  });
}

async function parts(path: string, accept?: string) {
  const res = await get(path, accept ? { accept } : {});
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, body.toString('utf8', 0, 500)).toBe(200);
  const type = res.headers.get('content-type')!;
  return { type, parts: parseMultipart(body, type) };
}

/** The value bytes of the Pixel Data element of a native fixture. */
function pixelValue(i: GeneratedInstance, headerLength: number): Buffer {
  return i.dataset.subarray(i.pixelDataOffset! + headerLength);
}

beforeAll(async () => {
  strata = await startTestStrata();
  implicit = [1, 2].map((n) =>
    makeInstance({
      transferSyntax: 'implicit',
      studyInstanceUid: STUDY,
      seriesInstanceUid: SERIES_IMPLICIT,
      instanceNumber: n,
      rows: 32,
      columns: 32,
    }),
  );
  explicit = makeInstance({
    transferSyntax: 'explicit',
    studyInstanceUid: STUDY,
    seriesInstanceUid: SERIES_OTHER,
    modality: 'MR',
  });
  withBulkHeader = makeInstance({
    transferSyntax: 'explicit',
    studyInstanceUid: STUDY,
    seriesInstanceUid: SERIES_OTHER,
    instanceNumber: 2,
    extra: [
      { tag: '00282000', vr: 'OB', value: ICC },
      {
        tag: '00081140',
        vr: 'SQ',
        items: [
          [{ tag: '00081150', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' }],
          [{ tag: '00420011', vr: 'OB', value: NESTED }],
        ],
      },
    ],
  });
  jpeg = makeInstance({ transferSyntax: 'jpeg-baseline', studyInstanceUid: JPEG_STUDY, frames: 2 });
  deflated = makeInstance({ transferSyntax: 'deflated', studyInstanceUid: DEFLATED_STUDY });
  big = makeInstance({
    transferSyntax: 'explicit',
    studyInstanceUid: STUDY,
    seriesInstanceUid: SERIES_OTHER,
    instanceNumber: 3,
    pixelBytes: 12 * 1024 * 1024 + 2,
  });
  const all = [...implicit, explicit, withBulkHeader, jpeg, deflated, big];
  const stored = await stow(
    strata.httpUrl,
    strata.auth,
    all.map((i) => i.part10),
  );
  expect(stored.status, stored.text).toBe(200);
});

afterAll(async () => {
  await strata?.stop();
  if (strata) removeDataDir(strata.dataDir);
});

function expectSameInstances(
  got: ReturnType<typeof parseMultipart>,
  expected: GeneratedInstance[],
): void {
  expect(got).toHaveLength(expected.length);
  const bySop = new Map(expected.map((i) => [i.sopInstanceUid, i]));
  for (const part of got) {
    const file = part.body;
    expect(file.subarray(128, 132).toString('latin1')).toBe('DICM');
    const sop = /2\.25\.\d+/.exec(file.subarray(132, 400).toString('latin1'))?.[0];
    const want = bySop.get(sop!);
    expect(want, 'an instance that was not asked for').toBeDefined();
    bySop.delete(sop!);
    expect(part.headers['content-type']).toBe(
      `application/dicom; transfer-syntax=${want!.transferSyntaxUid}`,
    );
    // Byte for byte: the data set after our meta header is exactly what was stored.
    const dataset = datasetOf(file);
    expect(dataset.length).toBe(want!.dataset.length);
    expect(createHash('sha256').update(dataset).digest('hex')).toBe(
      createHash('sha256').update(want!.dataset).digest('hex'),
    );
    expect(Number(part.headers['content-length'])).toBe(file.length);
  }
  expect(bySop.size).toBe(0);
}

describe('WADO-RS instances', () => {
  it('a study: every instance, implicit and explicit VR, byte for byte after the meta header', async () => {
    const { type, parts: got } = await parts(`/dicomweb/studies/${STUDY}`);
    expect(type).toMatch(/^multipart\/related; type="application\/dicom"; boundary=/);
    expectSameInstances(got, [...implicit, explicit, withBulkHeader, big]);
  });

  it('a series and an instance', async () => {
    expectSameInstances(
      (await parts(`/dicomweb/studies/${STUDY}/series/${SERIES_IMPLICIT}`)).parts,
      implicit,
    );
    expectSameInstances(
      (
        await parts(
          `/dicomweb/studies/${STUDY}/series/${SERIES_OTHER}/instances/${explicit.sopInstanceUid}`,
        )
      ).parts,
      [explicit],
    );
  });

  it('JPEG and deflated instances come back as stored (no transcoding)', async () => {
    expectSameInstances((await parts(`/dicomweb/studies/${JPEG_STUDY}`)).parts, [jpeg]);
    expectSameInstances((await parts(`/dicomweb/studies/${DEFLATED_STUDY}`)).parts, [deflated]);
  });

  it('honours transfer-syntax=* and the stored transfer syntax; refuses others with 406', async () => {
    const star = 'multipart/related; type="application/dicom"; transfer-syntax=*';
    expectSameInstances((await parts(`/dicomweb/studies/${JPEG_STUDY}`, star)).parts, [jpeg]);
    expectSameInstances((await parts(`/dicomweb/studies/${JPEG_STUDY}`, '*/*')).parts, [jpeg]);
    const stored = `multipart/related; type="application/dicom"; transfer-syntax=${jpeg.transferSyntaxUid}`;
    expectSameInstances((await parts(`/dicomweb/studies/${JPEG_STUDY}`, stored)).parts, [jpeg]);
    const res = await get(`/dicomweb/studies/${JPEG_STUDY}`, {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
    });
    expect(res.status).toBe(406);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(
      ((await res.json()) as { storedTransferSyntaxes: string[] }).storedTransferSyntaxes,
    ).toEqual([jpeg.transferSyntaxUid]);
    expect(
      (await get(`/dicomweb/studies/${STUDY}`, { accept: 'application/dicom+json' })).status,
    ).toBe(406);
  });

  it('404 for an unknown study, series or instance; 400 for a malformed UID', async () => {
    const unknown = newUid();
    for (const path of [
      `/dicomweb/studies/${unknown}`,
      `/dicomweb/studies/${STUDY}/series/${unknown}`,
      `/dicomweb/studies/${STUDY}/series/${SERIES_OTHER}/instances/${unknown}`,
      `/dicomweb/studies/${STUDY}/series/${SERIES_IMPLICIT}/instances/${explicit.sopInstanceUid}`,
      `/dicomweb/studies/${unknown}/metadata`,
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await get('/dicomweb/studies/1.2.abc')).status).toBe(400);
  });

  it('needs a bearer token', async () => {
    expect((await fetch(`${strata.httpUrl}/dicomweb/studies/${STUDY}`)).status).toBe(401);
    expect((await fetch(`${strata.httpUrl}/dicomweb/studies/${STUDY}/metadata`)).status).toBe(401);
  });
});

describe('WADO-RS metadata and bulk data', () => {
  async function metadata(path: string): Promise<Json[]> {
    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
    return (await res.json()) as Json[];
  }

  async function bulk(url: string): Promise<Buffer> {
    const { type, parts: got } = await parts(url);
    expect(type).toMatch(/^multipart\/related; type="application\/octet-stream"/);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers['content-type']).toBe('application/octet-stream');
    return got[0]!.body;
  }

  it('returns the stored header of every instance of a study', async () => {
    const items = await metadata(`/dicomweb/studies/${STUDY}/metadata`);
    const sops = items.map((m) => m['00080018']!.Value![0]);
    expect(new Set(sops)).toEqual(
      new Set([...implicit, explicit, withBulkHeader, big].map((i) => i.sopInstanceUid)),
    );
    for (const m of items) expect(m['0020000D']!.Value).toEqual([STUDY]);
    expect(
      (await metadata(`/dicomweb/studies/${STUDY}/series/${SERIES_IMPLICIT}/metadata`)).length,
    ).toBe(2);
    const one = await metadata(
      `/dicomweb/studies/${STUDY}/series/${SERIES_OTHER}/instances/${explicit.sopInstanceUid}/metadata`,
    );
    expect(one).toHaveLength(1);
    expect(one[0]!['00080060']!.Value).toEqual(['MR']);
  });

  it('Pixel Data has a BulkDataURI that serves the value bytes (implicit and explicit VR)', async () => {
    for (const [i, series, headerLength] of [
      [implicit[0]!, SERIES_IMPLICIT, 8],
      [explicit, SERIES_OTHER, 12],
      [big, SERIES_OTHER, 12],
    ] as const) {
      const base = `${strata.httpUrl}/dicomweb/studies/${STUDY}/series/${series}/instances/${i.sopInstanceUid}`;
      const [m] = await metadata(`${base.slice(strata.httpUrl.length)}/metadata`);
      expect(m!['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: `${base}/bulkdata/7FE00010` });
      const value = await bulk(m!['7FE00010']!.BulkDataURI!);
      expect(value.length).toBe(pixelValue(i, headerLength).length);
      expect(value.equals(pixelValue(i, headerLength))).toBe(true);
    }
  });

  it('large binary values in the header, also inside sequences, have working BulkDataURIs', async () => {
    const base = `${strata.httpUrl}/dicomweb/studies/${STUDY}/series/${SERIES_OTHER}/instances/${withBulkHeader.sopInstanceUid}`;
    const [m] = await metadata(`${base.slice(strata.httpUrl.length)}/metadata`);
    expect(m!['00282000']).toEqual({ vr: 'OB', BulkDataURI: `${base}/bulkdata/00282000` });
    expect((await bulk(m!['00282000']!.BulkDataURI!)).equals(ICC)).toBe(true);
    const item = (m!['00081140']!.Value as Json[])[1]!;
    expect(item['00420011']!.BulkDataURI).toBe(`${base}/bulkdata/00081140/1/00420011`);
    expect((await bulk(item['00420011']!.BulkDataURI!)).equals(NESTED)).toBe(true);
    expect((await get(`${base}/bulkdata/00081140/0/00420011`)).status).toBe(404);
    expect((await get(`${base}/bulkdata/00191010`)).status).toBe(404);
    expect((await get(`${base}/bulkdata/7FE00010`, { accept: 'image/jpeg' })).status).toBe(406);
  });

  it('deflated instances: bulk data is read from the inflated data set', async () => {
    const [m] = await metadata(`/dicomweb/studies/${DEFLATED_STUDY}/metadata`);
    const value = await bulk(m!['7FE00010']!.BulkDataURI!);
    const inflated = (await import('node:zlib')).inflateRawSync(deflated.dataset);
    expect(value.equals(inflated.subarray(deflated.pixelDataOffset! + 12))).toBe(true);
  });

  it('encapsulated pixel data is not served as bulk data (501), the instance is', async () => {
    const [m] = await metadata(`/dicomweb/studies/${JPEG_STUDY}/metadata`);
    expect(m!['7FE00010']!.vr).toBe('OB');
    const res = await get(m!['7FE00010']!.BulkDataURI!);
    expect(res.status).toBe(501);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('WADO-RS audit and access time', () => {
  it('records study.retrieved with the instance count, and last_accessed_at', async () => {
    const db = strata.running.database.database;
    await db.query(`UPDATE studies SET last_accessed_at = NULL WHERE study_instance_uid = $1`, [
      STUDY,
    ]);
    const [{ seq }] = await db.query<{ seq: string }>(
      `SELECT coalesce(max(seq), 0) AS seq FROM audit_events`,
    );
    await parts(`/dicomweb/studies/${STUDY}/series/${SERIES_IMPLICIT}`);
    // The event is written once the transfer has ended, just after the last byte.
    type Event = {
      instances: number;
      outcome: string;
      actor: string;
      detail: Record<string, unknown>;
    };
    let event: Event | undefined;
    for (let tries = 0; tries < 50 && !event; tries++) {
      const res = await get(
        `/api/audit?action=study.retrieved&studyInstanceUid=${STUDY}&after=${seq}&limit=1000`,
      );
      const { events } = (await res.json()) as { events: Event[] };
      event = events.find(
        (e) => e.detail.kind === 'instances' && e.detail.seriesInstanceUid === SERIES_IMPLICIT,
      );
      if (!event) await new Promise((r) => setTimeout(r, 100));
    }
    expect(event).toMatchObject({ actor: 'admin', outcome: 'success', instances: 2 });
    expect(event!.detail).toMatchObject({ protocol: 'WADO-RS', level: 'series' });
    const [row] = await db.query<{ touched: boolean }>(
      `SELECT last_accessed_at IS NOT NULL AS touched FROM studies WHERE study_instance_uid = $1`,
      [STUDY],
    );
    expect(row!.touched).toBe(true);
  });
});
