import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GeneratedInstance,
  makeInstance,
  newUid,
  writeInstanceFile,
} from '../../src/dicom/testing/index.js';
import { CommandField, DATA_SET_PRESENT, decodeCommand } from '../../src/dimse/command.js';
import { PduType, parseAssociateAc, parsePDataTf, encodeReleaseRq } from '../../src/dimse/pdu.js';
import { rawEcho } from '../../src/dimse/testing/harness.js';
import { filesUnder } from '../support/object-files.js';
import {
  associateRqPdu,
  commandPdu,
  dataPdu,
  RawClient,
} from '../../src/dimse/testing/raw-client.js';
import { postAndAbort, problemOf, rawPost } from '../support/bad-http.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf, parseMultipart } from '../support/multipart.js';
import { stow, stowBody } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

/**
 * Hostile and broken input, over STOW-RS and DIMSE, against the real app. For every case: the
 * answer the standard gives (a DICOM status, a STOW-RS store response or an RFC 9457 problem whose
 * `detail` says why), nothing half-stored (no new catalog rows, no new object files, no temp file
 * left behind), and the server still serves the next good request.
 */

type Json = Record<string, { vr: string; Value?: unknown[] }>;

const CT = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILURE_REASON = '00081197';
const REFERENCED_SOP_CLASS = '00081150';
const REFERENCED_SOP_INSTANCE = '00081155';
const RETRIEVE_URL = '00081190';
/** PS3.4 / PS3.18 failure reasons. */
const SOP_CLASS_NOT_SUPPORTED = 0x0122;
const DATASET_DOES_NOT_MATCH = 0xa900;
/** Cannot understand: the whole 0xCxxx range (PS3.4 B.2.3). */
const isCannotUnderstand = (code: number) => (code & 0xf000) === 0xc000;
const LIMIT_YAML = 'dicomweb:\n  maxStowBytes: 100000\n';

let strata: TestStrata;
/** A second archive with a 100 000-byte STOW limit. */
let small: TestStrata;
let workDir: string;
const dcmtk = hasTool('storescu') && hasTool('echoscu');

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'strata-bad-input-'));
  [strata, small] = await Promise.all([
    startTestStrata(),
    startTestStrata({ configYaml: LIMIT_YAML }),
  ]);
});

/** Stops a Strata, but gives up (and says so) after `ms`: a stuck shutdown must not hang the file. */
async function stopWithin(s: TestStrata, ms = 20_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    s.stop().then(() => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  if (stopped) removeDataDir(s.dataDir);
  else console.error(`Strata with data dir ${s.dataDir} did not stop within ${ms} ms`);
  return stopped;
}

/**
 * Runs a case on a Strata of its own, for cases whose failure could leave a stuck request or a temp
 * file behind and so fail the cases after it for the wrong reason.
 */
async function withOwnStrata(
  options: Parameters<typeof startTestStrata>[0],
  run: (s: TestStrata) => Promise<void>,
): Promise<void> {
  const s = await startTestStrata(options);
  try {
    await run(s);
  } finally {
    await stopWithin(s);
  }
}

afterAll(async () => {
  const results = await Promise.all([strata, small].filter(Boolean).map((s) => stopWithin(s)));
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  expect(results.every(Boolean), 'a Strata did not shut down within 20 s').toBe(true);
});

// ------------------------------------------------------------------------------------------------
// What was stored: catalog rows and object files

const TABLES = [
  'patients',
  'studies',
  'series',
  'instances',
  'instance_versions',
  'blobs',
  'locations',
] as const;

interface Snapshot {
  rows: Record<(typeof TABLES)[number], number>;
  /** Every file under objects/hot, relative to it. */
  files: string[];
  /** audit_events.seq at the time, to look at what the case recorded. */
  auditSeq: number;
}

const hotDir = (s: TestStrata) => join(s.dataDir, 'objects', 'hot');

async function sql<T = Record<string, unknown>>(
  s: TestStrata,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return s.running.database.database.query<T>(text, params);
}

async function snapshot(s: TestStrata): Promise<Snapshot> {
  const rows = {} as Snapshot['rows'];
  for (const t of TABLES) {
    rows[t] = (await sql<{ n: number }>(s, `SELECT count(*)::int AS n FROM ${t}`))[0]!.n;
  }
  const [{ seq }] = await sql<{ seq: string }>(
    s,
    'SELECT coalesce(max(seq), 0)::text AS seq FROM audit_events',
  );
  return { rows, files: filesUnder(hotDir(s)), auditSeq: Number(seq) };
}

/**
 * The instance.stored audit rows after `afterSeq`. A refusal is audited after its partial object
 * is removed, so wait (up to 10 s) for the row rather than racing it.
 */
async function storeEventsAfter(
  s: TestStrata,
  afterSeq: number,
): Promise<{ outcome: string; detail: { reason: string } }[]> {
  for (let t = 0; ; t++) {
    const events = await sql<{ outcome: string; detail: { reason: string } }>(
      s,
      `SELECT outcome, detail FROM audit_events WHERE seq > $1 AND action = 'instance.stored'`,
      [afterSeq],
    );
    if (events.length > 0 || t >= 100) return events;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/**
 * Object files no location points at: a write in progress, or the partial object of a refused
 * instance not removed yet (objects are written straight at their keys).
 */
async function partialFiles(s: TestStrata): Promise<string[]> {
  const keys = new Set(
    (await sql<{ key: string }>(s, 'SELECT key FROM locations')).map((r) => r.key),
  );
  return filesUnder(hotDir(s)).filter((f) => !keys.has(f));
}

/** Waits (up to `timeoutMs`) until no object file is left that no location points at. */
async function noPartialFiles(s: TestStrata, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await partialFiles(s)).length > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** Nothing was stored since `before`: same row counts, same object files, no temp file left. */
async function expectNothingStored(s: TestStrata, before: Snapshot): Promise<void> {
  expect(await noPartialFiles(s), 'object files no location points at').toBe(true);
  const after = await snapshot(s);
  expect(after.rows, 'catalog rows added by a refused request').toEqual(before.rows);
  expect(after.files, 'object files added by a refused request').toEqual(before.files);
}

/** Exactly `n` instances were stored since `before`, each with one blob, location and file. */
async function expectStored(s: TestStrata, before: Snapshot, n: number): Promise<void> {
  expect(await noPartialFiles(s), 'object files no location points at').toBe(true);
  const after = await snapshot(s);
  for (const t of ['instances', 'instance_versions', 'blobs', 'locations'] as const) {
    expect(after.rows[t] - before.rows[t], t).toBe(n);
  }
  const added = after.files.filter((f) => !before.files.includes(f));
  expect(added).toHaveLength(n);
  expect(before.files.filter((f) => !after.files.includes(f))).toEqual([]);
  const keys = new Set(
    (await sql<{ key: string }>(s, 'SELECT key FROM locations')).map((r) => r.key),
  );
  for (const f of added) expect(keys.has(f), `file ${f} has no location row`).toBe(true);
}

/** The server still takes a good instance (STOW-RS 200) and stores exactly it. */
async function expectStillServing(s: TestStrata): Promise<void> {
  const before = await snapshot(s);
  const good = makeInstance();
  const res = await stow(s.httpUrl, s.auth, [good.part10]);
  expect(res.status, res.text).toBe(200);
  const items = sequence(res.json, REFERENCED_SOP_SEQUENCE);
  expect(items).toHaveLength(1);
  expect(items[0]![REFERENCED_SOP_INSTANCE]?.Value).toEqual([good.sopInstanceUid]);
  await expectStored(s, before, 1);
}

function sequence(json: Json | null, tag: string): Json[] {
  return (json?.[tag]?.Value ?? []) as Json[];
}

/** A STOW-RS answer refusing every instance: 409 and one FailedSOPSequence item per part. */
function expectRefused(
  res: { status: number; json: Json | null; text: string },
  parts: number,
): Json[] {
  expect(res.status, res.text).toBe(409);
  expect(res.json, res.text).not.toBeNull();
  expect(sequence(res.json, REFERENCED_SOP_SEQUENCE)).toEqual([]);
  const failed = sequence(res.json, FAILED_SOP_SEQUENCE);
  expect(failed, res.text).toHaveLength(parts);
  return failed;
}

function reasonOf(item: Json): number {
  return item[FAILURE_REASON]?.Value?.[0] as number;
}

/** An RFC 9457 problem with the given status and a `detail` matching `why`. */
async function expectProblem(res: Response, status: number, why: RegExp): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as { status: number; detail: string };
  expect(body.status).toBe(status);
  expect(body.detail).toMatch(why);
}

async function post(
  s: TestStrata,
  body: Buffer,
  contentType: string | null,
  path = '/dicomweb/studies',
): Promise<Response> {
  return fetch(`${s.httpUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: s.auth,
      accept: 'application/dicom+json',
      ...(contentType ? { 'content-type': contentType } : {}),
    },
    body,
  });
}

/** Offset (in the Part 10 file) of an explicit VR LE element header, found by its tag and VR. */
function elementOffset(i: GeneratedInstance, tag: string, vr: string): number {
  const group = parseInt(tag.slice(0, 4), 16);
  const element = parseInt(tag.slice(4), 16);
  const needle = Buffer.alloc(6);
  needle.writeUInt16LE(group, 0);
  needle.writeUInt16LE(element, 2);
  needle.write(vr, 4, 'latin1');
  const at = i.dataset.indexOf(needle);
  if (at < 0) throw new Error(`element ${tag} not found`);
  return i.metaLength + at;
}

function chunked(body: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let o = 0; o < body.length; o += size) chunks.push(body.subarray(o, o + size));
  return chunks;
}

/** A new object file (not among `existing`) bigger than `bytes`: a write well under way. */
function newFileBiggerThan(s: TestStrata, bytes: number, existing: string[]): boolean {
  return filesUnder(hotDir(s)).some((f) => {
    if (existing.includes(f)) return false;
    try {
      return statSync(join(hotDir(s), f)).size > bytes;
    } catch {
      return false;
    }
  });
}

/** The data set bytes WADO-RS gives back for an instance. */
async function retrieve(s: TestStrata, i: GeneratedInstance): Promise<Buffer> {
  const res = await fetch(
    `${s.httpUrl}/dicomweb/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`,
    { headers: { authorization: s.auth } },
  );
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, body.toString('utf8', 0, 300)).toBe(200);
  const parts = parseMultipart(body, res.headers.get('content-type')!);
  expect(parts).toHaveLength(1);
  return datasetOf(parts[0]!.body);
}

// ------------------------------------------------------------------------------------------------
// STOW-RS

describe('STOW-RS: broken instances are refused one by one, nothing half-stored', () => {
  it('a Part 10 file truncated inside its data set header: 409, Cannot understand', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ pixelBytes: 64 * 1024 });
    const cut = i.part10.subarray(0, i.metaLength + 60);
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [cut]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a Part 10 file truncated inside its pixel data: 409, Cannot understand, named', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ pixelBytes: 512 * 1024 });
    const cut = i.part10.subarray(0, i.part10.length - 200_000);
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [cut]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    // The header was readable, so the refusal names the instance.
    expect(item![REFERENCED_SOP_INSTANCE]?.Value).toEqual([i.sopInstanceUid]);
    expect(item![REFERENCED_SOP_CLASS]?.Value).toEqual([CT]);
    await expectNothingStored(strata, before);
    // The refusal is audited as a failure with its reason.
    const [event] = await sql<{ outcome: string; detail: { reason: string } }>(
      strata,
      `SELECT outcome, detail FROM audit_events WHERE seq > $1 AND action = 'instance.stored'`,
      [before.auditSeq],
    );
    expect(event?.outcome).toBe('failure');
    expect(event?.detail.reason).toBe('truncated');
    await expectStillServing(strata);
  });

  it('a bare data set without the Part 10 header: 409, Cannot understand', async () => {
    const before = await snapshot(strata);
    const i = makeInstance();
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [i.dataset]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a header element whose length runs into the pixel data: 409, Cannot understand', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ pixelBytes: 256 * 1024 });
    const bad = Buffer.from(i.part10);
    // PatientID (0010,0020) LO: 16-bit length at +6. 0xFFF0 lands deep inside the pixel data.
    bad.writeUInt16LE(0xfff0, elementOffset(i, '00100020', 'LO') + 6);
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [bad]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a Pixel Data length larger than the bytes that follow: 409, Cannot understand', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ pixelBytes: 256 * 1024 });
    const bad = Buffer.from(i.part10);
    // Pixel Data (7FE0,0010) OW: 32-bit length at +8.
    bad.writeUInt32LE(256 * 1024 + 1024 * 1024, elementOffset(i, '7FE00010', 'OW') + 8);
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [bad]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    expect(item![REFERENCED_SOP_INSTANCE]?.Value).toEqual([i.sopInstanceUid]);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a part holding random bytes: 409, Cannot understand', async () => {
    const before = await snapshot(strata);
    const [item] = expectRefused(
      await stow(strata.httpUrl, strata.auth, [randomBytes(64 * 1024)]),
      1,
    );
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('random bytes where a part (headers and all) should be: refused, nothing stored', async () => {
    const before = await snapshot(strata);
    const boundary = `bad-${randomBytes(8).toString('hex')}`;
    // Binary noise without CRLF CRLF: there are no part headers to find.
    const noise = Buffer.from(randomBytes(32 * 1024).map((b) => (b === 0x0d ? 0x20 : b)));
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\n`),
      noise,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await post(
      strata,
      body,
      `multipart/related; type="application/dicom"; boundary=${boundary}`,
    );
    const text = await res.text();
    // A part whose headers are noise is still a part: refused as an instance nobody can read.
    const [item] = expectRefused({ status: res.status, json: JSON.parse(text) as Json, text }, 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a body with no boundary in it at all: 400 problem', async () => {
    const before = await snapshot(strata);
    const res = await post(
      strata,
      randomBytes(48 * 1024),
      'multipart/related; type="application/dicom"; boundary=never-appears-in-the-body',
    );
    await expectProblem(res, 400, /multipart|part/i);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('an unknown SOP class: 409, FailureReason 0122 SOP Class not supported', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ sopClassUid: '1.2.3.4.5' });
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [i.part10]), 1);
    expect(reasonOf(item!)).toBe(SOP_CLASS_NOT_SUPPORTED);
    expect(item![REFERENCED_SOP_CLASS]?.Value).toEqual(['1.2.3.4.5']);
    expect(item![REFERENCED_SOP_INSTANCE]?.Value).toEqual([i.sopInstanceUid]);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a data set without SOP Instance UID: 409, a FailedSOPSequence item, Cannot understand', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ omit: ['00080018'] });
    const [item] = expectRefused(await stow(strata.httpUrl, strata.auth, [i.part10]), 1);
    expect(isCannotUnderstand(reasonOf(item!)), `FailureReason ${reasonOf(item!)}`).toBe(true);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a STOW to /studies/{uid} of an instance of another study: 409, FailureReason A900', async () => {
    const before = await snapshot(strata);
    const target = newUid();
    const i = makeInstance();
    const res = await stow(strata.httpUrl, strata.auth, [i.part10], target);
    const [item] = expectRefused(res, 1);
    expect(reasonOf(item!)).toBe(DATASET_DOES_NOT_MATCH);
    expect(item![REFERENCED_SOP_INSTANCE]?.Value).toEqual([i.sopInstanceUid]);
    expect(String(res.json![RETRIEVE_URL]?.Value?.[0])).toMatch(new RegExp(`/studies/${target}$`));
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('one good and one bad part: 202, the good one stored and referenced, the bad one failed', async () => {
    const before = await snapshot(strata);
    const good = makeInstance({ pixelBytes: 32 * 1024 });
    const bad = makeInstance({ sopClassUid: '1.2.3.4.5' });
    const res = await stow(strata.httpUrl, strata.auth, [good.part10, bad.part10]);
    expect(res.status, res.text).toBe(202);
    const referenced = sequence(res.json, REFERENCED_SOP_SEQUENCE);
    const failed = sequence(res.json, FAILED_SOP_SEQUENCE);
    expect(referenced).toHaveLength(1);
    expect(referenced[0]![REFERENCED_SOP_INSTANCE]?.Value).toEqual([good.sopInstanceUid]);
    expect(failed).toHaveLength(1);
    expect(failed[0]![REFERENCED_SOP_INSTANCE]?.Value).toEqual([bad.sopInstanceUid]);
    expect(reasonOf(failed[0]!)).toBe(SOP_CLASS_NOT_SUPPORTED);
    await expectStored(strata, before, 1);
    // The good one comes back byte for byte; the bad one is unknown.
    expect((await retrieve(strata, good)).equals(good.dataset)).toBe(true);
    const none = await fetch(
      `${strata.httpUrl}/dicomweb/instances?SOPInstanceUID=${bad.sopInstanceUid}`,
      { headers: { authorization: strata.auth } },
    );
    expect([200, 204]).toContain(none.status);
    const noneText = await none.text();
    expect(noneText === '' ? [] : JSON.parse(noneText)).toEqual([]);
    await expectStillServing(strata);
  });
});

describe('STOW-RS: requests the server cannot take are refused as a whole with a problem', () => {
  it('Content-Type application/json: 415', async () => {
    const before = await snapshot(strata);
    const res = await post(strata, Buffer.from('[{"00080018":{"vr":"UI"}}]'), 'application/json');
    await expectProblem(res, 415, /application\/json|not supported/i);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('Content-Type application/json with a body that is not JSON: still 415', async () => {
    const before = await snapshot(strata);
    const { body } = stowBody([makeInstance().part10]);
    const res = await post(strata, body, 'application/json');
    await expectProblem(res, 415, /application\/json|not supported/i);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('multipart/related; type="application/dicom+json": 415', async () => {
    const before = await snapshot(strata);
    const { body } = stowBody([Buffer.from('[{}]')], 'application/dicom+json');
    const res = await post(
      strata,
      body,
      'multipart/related; type="application/dicom+json"; boundary=whatever',
    );
    await expectProblem(res, 415, /application\/dicom\+json/);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a single application/dicom body without multipart: 415', async () => {
    const before = await snapshot(strata);
    const res = await post(strata, makeInstance().part10, 'application/dicom');
    await expectProblem(res, 415, /application\/dicom|multipart/);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('multipart/related without a boundary: 400', async () => {
    const before = await snapshot(strata);
    const { body } = stowBody([makeInstance().part10]);
    const res = await post(strata, body, 'multipart/related; type="application/dicom"');
    await expectProblem(res, 400, /boundary/);
    await expectNothingStored(strata, before);
    await expectStillServing(strata);
  });

  it('a body over dicomweb.maxStowBytes announced by Content-Length: 413, nothing read', async () => {
    const before = await snapshot(small);
    const { body, contentType } = stowBody([makeInstance({ pixelBytes: 300 * 1024 }).part10]);
    const res = await rawPost(
      `${small.httpUrl}/dicomweb/studies`,
      { 'content-type': contentType, authorization: small.auth, accept: 'application/dicom+json' },
      [body],
      'content-length',
    );
    expect(res.status, res.body.toString()).toBe(413);
    expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(problemOf(res).detail).toMatch(/100000/);
    await expectNothingStored(small, before);
    await expectStillServing(small);
  });

  it('a chunked body that grows over dicomweb.maxStowBytes: 413, the partial instance dropped', async () => {
    await withOwnStrata({ configYaml: LIMIT_YAML }, async (s) => {
      const before = await snapshot(s);
      // One instance bigger than the limit, sent in 16 KiB chunks without Content-Length: the
      // server only learns the size while the instance is already streaming into the pipeline.
      const { body, contentType } = stowBody([makeInstance({ pixelBytes: 400 * 1024 }).part10]);
      const res = await rawPost(
        `${s.httpUrl}/dicomweb/studies`,
        { 'content-type': contentType, authorization: s.auth, accept: 'application/dicom+json' },
        chunked(body, 16 * 1024),
        'chunked',
        15_000,
      );
      expect(res.status, res.body.toString()).toBe(413);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(problemOf(res).detail).toMatch(/100000/);
      await expectNothingStored(s, before);
      await expectStillServing(s);
    });
  });

  it('a chunked body of small instances that passes the limit: 413; what was committed is whole', async () => {
    await withOwnStrata({ configYaml: LIMIT_YAML }, async (s) => {
      const before = await snapshot(s);
      // Twelve small instances, about 150 kB: several are complete before the limit is reached.
      // The request is refused as a whole, so none is acknowledged; one completed before the
      // limit may still have been committed (harmless: a retry is a duplicate), but then whole.
      const instances = Array.from({ length: 12 }, () => makeInstance({ pixelBytes: 12 * 1024 }));
      const { body, contentType } = stowBody(instances.map((i) => i.part10));
      const res = await rawPost(
        `${s.httpUrl}/dicomweb/studies`,
        { 'content-type': contentType, authorization: s.auth, accept: 'application/dicom+json' },
        chunked(body, 8 * 1024),
        'chunked',
        15_000,
      );
      expect(res.status, res.body.toString()).toBe(413);
      expect(problemOf(res).detail).toMatch(/100000/);
      expect(await noPartialFiles(s)).toBe(true);
      const after = await snapshot(s);
      const kept = after.rows.instances - before.rows.instances;
      expect(kept).toBeLessThan(instances.length);
      expect(after.rows.blobs - before.rows.blobs).toBe(kept);
      expect(after.rows.locations - before.rows.locations).toBe(kept);
      expect(after.files.length - before.files.length).toBe(kept);
      const rows = await sql<{ sop_instance_uid: string }>(
        s,
        'SELECT sop_instance_uid FROM instances',
      );
      const bySop = new Map(instances.map((i) => [i.sopInstanceUid, i]));
      for (const { sop_instance_uid: sop } of rows) {
        const i = bySop.get(sop);
        expect(i, `an instance that was not sent: ${sop}`).toBeDefined();
        expect((await retrieve(s, i!)).equals(i!.dataset), `${sop} is not whole`).toBe(true);
      }
      if (kept > 0)
        console.warn(`413 chunked STOW: ${kept} instance(s) committed before the limit`);
      await expectStillServing(s);
    });
  });

  it('a client that disconnects in the middle of an instance: nothing stored, partial object removed', async () => {
    await withOwnStrata({}, async (s) => {
      const before = await snapshot(s);
      const i = makeInstance({ pixelBytes: 48 * 1024 * 1024 });
      const { body, contentType } = stowBody([i.part10]);
      const written = await postAndAbort(
        `${s.httpUrl}/dicomweb/studies`,
        { 'content-type': contentType, authorization: s.auth },
        chunked(body, 256 * 1024),
        () => newFileBiggerThan(s, 1024 * 1024, before.files),
      );
      expect(written, 'the server never started writing the instance').toBeLessThan(body.length);
      expect(
        await noPartialFiles(s, 10_000),
        'the partial object of the aborted instance is still there 10 s after the client left',
      ).toBe(true);
      await expectNothingStored(s, before);
      const events = await storeEventsAfter(s, before.auditSeq);
      expect(events.map((e) => [e.outcome, e.detail.reason])).toEqual([['failure', 'aborted']]);
      await expectStillServing(s);
    });
  });
});

// ------------------------------------------------------------------------------------------------
// DIMSE

async function storescu(s: TestStrata, files: string[], extra: string[] = []) {
  return runTool('storescu', [
    '-v',
    '-aet',
    'BADINPUT',
    '-aec',
    'STRATA',
    ...extra,
    '127.0.0.1',
    String(s.dicomPort),
    ...files,
  ]);
}

async function expectEchoAndStore(s: TestStrata): Promise<void> {
  expect(await rawEcho(s.dicomPort)).toBe(0);
  if (dcmtk) {
    const echo = await runTool('echoscu', ['-aec', 'STRATA', '127.0.0.1', String(s.dicomPort)]);
    expect(echo.code, echo.stderr).toBe(0);
    const before = await snapshot(s);
    const good = makeInstance();
    const path = join(workDir, `${good.sopInstanceUid}.dcm`);
    writeFileSync(path, good.part10);
    const r = await storescu(s, [path]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Received Store Response \(Success\)/);
    await expectStored(s, before, 1);
  }
}

/** One raw association with a CT Image Storage / Explicit VR LE context; returns the client. */
async function rawStoreAssociation(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.write(
    associateRqPdu({
      contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }],
      maxPduLength: 65536,
    }),
  );
  const ac = await client.nextPdu();
  expect(ac?.type).toBe(PduType.AssociateAc);
  expect(parseAssociateAc(ac!.body).presentationContexts[0]?.result).toBe(0);
  return client;
}

/** Sends one C-STORE (dataset in one PDV) and returns the response status. */
async function rawStore(
  client: RawClient,
  messageId: number,
  sopInstanceUid: string,
  dataset: Buffer,
): Promise<number> {
  client.write(
    commandPdu(1, {
      commandField: CommandField.CStoreRq,
      messageId,
      priority: 0,
      affectedSopClassUid: CT,
      affectedSopInstanceUid: sopInstanceUid,
      commandDataSetType: DATA_SET_PRESENT,
    }),
  );
  client.write(dataPdu(1, dataset, true));
  const rsp = await client.nextPdu(30_000);
  expect(rsp?.type).toBe(PduType.PDataTf);
  const command = decodeCommand(parsePDataTf(rsp!.body)[0]!.data);
  expect(command.commandField).toBe(CommandField.CStoreRsp);
  expect(command.messageIdBeingRespondedTo).toBe(messageId);
  return command.status ?? -1;
}

describe('DIMSE: broken input is refused, associations end cleanly, the SCP keeps serving', () => {
  it.runIf(dcmtk)(
    'storescu of an unknown SOP class: the presentation context is rejected, storescu fails',
    async () => {
      const before = await snapshot(strata);
      const i = makeInstance({ sopClassUid: '1.2.3.4.5' });
      const path = join(workDir, 'unknown-sop-class.dcm');
      writeFileSync(path, i.part10);
      const r = await storescu(strata, [path]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/No presentation context for: .*1\.2\.3\.4\.5/);
      await expectNothingStored(strata, before);
      await expectEchoAndStore(strata);
    },
  );

  it('a data set without SOP Instance UID: C-STORE failure status, the association goes on', async () => {
    const before = await snapshot(strata);
    const bad = makeInstance({ transferSyntax: 'explicit', omit: ['00080018'] });
    if (dcmtk) {
      // dcmtk's storescu refuses to send it at all (it needs the UID for the C-STORE request),
      // so the request is built by hand below, with the UID only in the command.
      const path = join(workDir, 'no-sop-instance-uid.dcm');
      writeFileSync(path, bad.part10);
      const r = await storescu(strata, [path]);
      expect(r.stderr).toMatch(/No SOP Class or Instance UID in file/);
    }
    const client = await rawStoreAssociation(strata.dicomPort);
    try {
      const status = await rawStore(client, 1, bad.sopInstanceUid, bad.dataset);
      // Cannot understand (a Type 1 attribute is missing): 0xCxxx.
      expect(isCannotUnderstand(status), `status 0x${status.toString(16)}`).toBe(true);
      await expectNothingStored(strata, before);
      // The same association still stores a good instance afterwards.
      const good = makeInstance({ transferSyntax: 'explicit' });
      expect(await rawStore(client, 2, good.sopInstanceUid, good.dataset)).toBe(0);
      client.write(encodeReleaseRq());
      expect((await client.nextPdu())?.type).toBe(PduType.ReleaseRp);
    } finally {
      client.destroy();
    }
    await expectStored(strata, before, 1);
    await expectEchoAndStore(strata);
  });

  it('a C-STORE whose data set SOP Instance UID differs from the command: A900', async () => {
    const before = await snapshot(strata);
    const i = makeInstance({ transferSyntax: 'explicit' });
    const client = await rawStoreAssociation(strata.dicomPort);
    try {
      expect(await rawStore(client, 1, newUid(), i.dataset)).toBe(DATASET_DOES_NOT_MATCH);
    } finally {
      client.destroy();
    }
    await expectNothingStored(strata, before);
    await expectEchoAndStore(strata);
  });

  it.runIf(dcmtk)(
    'storescu killed in the middle of a 200 MiB data set: nothing stored, no partial object left',
    async () => {
      const before = await snapshot(strata);
      const path = join(workDir, 'big.dcm');
      const big = await writeInstanceFile(path, { pixelBytes: 200 * 1024 * 1024 });
      const child = spawn(
        'storescu',
        ['-v', '-aec', 'STRATA', '127.0.0.1', String(strata.dicomPort), path],
        { env: { ...process.env, TCP_NODELAY: '1' }, stdio: 'ignore' },
      );
      try {
        // Mid-transfer: the server is writing the object.
        const writing = await eventually(
          () => newFileBiggerThan(strata, 4 * 1024 * 1024, before.files),
          30_000,
        );
        expect(writing, 'the server never started writing the big instance').toBe(true);
      } finally {
        child.kill('SIGKILL');
      }
      await new Promise((r) => child.on('close', r));
      expect(await noPartialFiles(strata, 10_000)).toBe(true);
      await expectNothingStored(strata, before);
      const rows = await sql(strata, 'SELECT 1 FROM instances WHERE sop_instance_uid = $1', [
        big.sopInstanceUid,
      ]);
      expect(rows).toEqual([]);
      // The drop is recorded as such, not as a storage failure.
      const events = await storeEventsAfter(strata, before.auditSeq);
      expect(events.map((e) => [e.outcome, e.detail.reason])).toEqual([['failure', 'aborted']]);
      rmSync(path, { force: true });
      await expectEchoAndStore(strata);
    },
  );

  it('a raw TCP client sending garbage is disconnected; the SCP keeps answering', async () => {
    const garbage: [string, Buffer][] = [
      ['random bytes', randomBytes(64 * 1024)],
      [
        'an unknown PDU type',
        Buffer.concat([Buffer.from([0x09, 0, 0, 0, 0, 16]), randomBytes(16)]),
      ],
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: strata\r\n\r\n')],
      [
        'an A-ASSOCIATE-RQ announcing 4 GiB',
        Buffer.concat([Buffer.from([0x01, 0, 0xff, 0xff, 0xff, 0xff]), randomBytes(1024)]),
      ],
      [
        'a P-DATA-TF before any association',
        Buffer.concat([Buffer.from([0x04, 0, 0, 0, 0, 12]), randomBytes(12)]),
      ],
      [
        'an A-ASSOCIATE-RQ whose items are garbage',
        Buffer.concat([
          Buffer.from([0x01, 0, 0, 0, 0x01, 0x00]),
          Buffer.from([0, 1, 0, 0]),
          Buffer.from('STRATA          BAD             '),
          Buffer.alloc(32),
          randomBytes(256 - 68),
        ]),
      ],
    ];
    for (const [what, bytes] of garbage) {
      const client = await RawClient.connect(strata.dicomPort);
      try {
        client.write(bytes);
        expect(await client.waitClosed(5000), `${what}: connection still open`).toBe(true);
      } finally {
        client.destroy();
      }
      expect(await rawEcho(strata.dicomPort), `C-ECHO after ${what}`).toBe(0);
    }
    await expectEchoAndStore(strata);
  });
});

// ------------------------------------------------------------------------------------------------
// A read must not take a later write down with it

/** The V8 garbage collector, on demand (no --expose-gc needed). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('reads and writes interleaved', () => {
  it('a finished WADO-RS read leaves no file descriptor for the GC to close under a later write', async () => {
    // A read that hands its fd to a stream but drops the FileHandle lets the GC close that fd
    // number later, when it may belong to another file: an ingest's temp file, a socket.
    const seed = makeInstance({ pixelBytes: 64 * 1024 });
    expect((await stow(strata.httpUrl, strata.auth, [seed.part10])).status).toBe(200);
    const url = `${strata.httpUrl}/dicomweb/studies/${seed.studyInstanceUid}/series/${seed.seriesInstanceUid}/instances/${seed.sopInstanceUid}`;
    const before = await snapshot(strata);
    const stored: GeneratedInstance[] = [];
    for (let round = 0; round < 6; round++) {
      const read = await fetch(url, { headers: { authorization: strata.auth } });
      expect(read.status).toBe(200);
      await read.arrayBuffer();
      const i = makeInstance({ pixelBytes: 4 * 1024 * 1024 });
      const { body, contentType } = stowBody([i.part10]);
      const pending = rawPost(
        `${strata.httpUrl}/dicomweb/studies`,
        { 'content-type': contentType, authorization: strata.auth },
        chunked(body, 256 * 1024),
        'chunked',
        20_000,
      );
      for (let n = 0; n < 5; n++) {
        await new Promise((r) => setTimeout(r, 20));
        collectGarbage();
      }
      const res = await pending;
      expect(res.status, `round ${round}: ${res.body.toString()}`).toBe(200);
      stored.push(i);
    }
    await expectStored(strata, before, stored.length);
    for (const i of stored) expect((await retrieve(strata, i)).equals(i.dataset)).toBe(true);
  });
});
