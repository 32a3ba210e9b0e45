import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { AssociationRejectedError, DimseClient, DimseStatus } from '../../src/dimse/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { stowBody } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { retrieveDataset } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
/** How long the clients keep sending (each finishes the transfer it is in). */
const LOAD_MS = 20_000;
const DIMSE_WORKERS = 6;
const STOW_WORKERS = 4;
const QIDO_WORKERS = 2;
const PER_ASSOCIATION = 8;
const PER_REQUEST = 4;
/** Generous: the test process holds the archive, its clients and vitest (measured ~0.5 GB). */
const RSS_BOUND = 1536 * 1024 * 1024;
const storescu = hasTool('storescu');

interface Sent {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** SHA-256 of the data set bytes, to compare with what WADO-RS gives back. */
  sha256: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A new study's worth of small CT instances. */
function batch(n: number) {
  const studyInstanceUid = newUid();
  const seriesInstanceUid = newUid();
  return Array.from({ length: n }, (_, i) =>
    makeInstance({
      sopClassUid: CT,
      studyInstanceUid,
      seriesInstanceUid,
      instanceNumber: i + 1,
      pixelBytes: 24 * 1024 + Math.floor(Math.random() * 16 * 1024),
    }),
  );
}

const sent = (i: ReturnType<typeof makeInstance>): Sent => ({
  studyInstanceUid: i.studyInstanceUid,
  seriesInstanceUid: i.seriesInstanceUid,
  sopInstanceUid: i.sopInstanceUid,
  sha256: sha256(i.dataset),
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * A bounded load test (issue 7): parallel storescu associations, STOW-RS clients and QIDO-RS
 * readers against one archive whose limits are set so that some of them are refused. Afterwards
 * every instance the archive acknowledged (a C-STORE success, a STOW-RS ReferencedSOPSequence
 * item) is in the catalog and reads back byte-identical, refusals were the standard transient
 * ones, the archive still serves, and the process's RSS stayed bounded (its peak is printed).
 */
describe('load: parallel C-STORE, STOW-RS and QIDO-RS beyond the limits', () => {
  let s: TestStrata;
  let work: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-load-'));
    s = await startTestStrata({
      configYaml: [
        'limits:',
        '  maxAssociations: 3',
        '  maxStowRequests: 2',
        '  maxInFlightMiB: 64',
        '  retryAfterSeconds: 1',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await s?.stop();
    removeDataDir(s.dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('loses no acknowledged instance, refuses only as transient, and keeps RSS bounded', async () => {
    const acknowledged: Sent[] = [];
    const counts = {
      associations: 0,
      associationsRefused: 0,
      stowRequests: 0,
      stow503: 0,
      qido: 0,
      unexpected: [] as string[],
    };
    const qidoMs: number[] = [];
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const deadline = Date.now() + LOAD_MS;
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /** storescu of a new batch; acknowledged = the files answered "Success". */
    const viaStorescu = async (worker: number, round: number) => {
      const dir = join(work, `w${worker}-${round}`);
      mkdirSync(dir);
      const instances = batch(PER_ASSOCIATION);
      const byPath = new Map<string, Sent>();
      for (const inst of instances) {
        const path = join(dir, `${inst.sopInstanceUid}.dcm`);
        writeFileSync(path, inst.part10);
        byPath.set(path, sent(inst));
      }
      const r = await runTool('storescu', [
        '-v',
        '-aet',
        `LOAD${worker}`,
        '-aec',
        'STRATA',
        '127.0.0.1',
        String(s.dicomPort),
        ...byPath.keys(),
      ]);
      const out = r.stdout + r.stderr;
      rmSync(dir, { recursive: true, force: true });
      if (/Association Rejected/.test(out)) {
        counts.associationsRefused++;
        if (!/Rejected Transient/.test(out) || !/Service Provider \(Presentation/.test(out)) {
          counts.unexpected.push(`storescu refusal: ${out.slice(0, 400)}`);
        }
        return;
      }
      counts.associations++;
      let current: string | null = null;
      for (const line of out.split('\n')) {
        const sending = /Sending file: (.+\.dcm)/.exec(line);
        if (sending) current = sending[1]!.trim();
        else if (/Received Store Response \(Success\)/.test(line) && current) {
          acknowledged.push(byPath.get(current)!);
          current = null;
        }
      }
      if (r.code !== 0) counts.unexpected.push(`storescu exit ${r.code}: ${out.slice(-400)}`);
    };

    /** The same over our own DIMSE client, where dcmtk is not installed. */
    const viaClient = async (worker: number) => {
      let client: DimseClient;
      try {
        client = await DimseClient.connect({
          host: '127.0.0.1',
          port: s.dicomPort,
          callingAet: `LOAD${worker}`,
          calledAet: 'STRATA',
          contexts: [{ abstractSyntax: CT, transferSyntaxes: ['1.2.840.10008.1.2.1'] }],
        });
      } catch (e) {
        counts.associationsRefused++;
        const rj = e as AssociationRejectedError;
        if (!(e instanceof AssociationRejectedError) || rj.result !== 2 || rj.source !== 3) {
          counts.unexpected.push(`association: ${String(e)}`);
        }
        return;
      }
      counts.associations++;
      for (const inst of batch(PER_ASSOCIATION)) {
        const r = await client.store({
          sopClassUid: CT,
          sopInstanceUid: inst.sopInstanceUid,
          transferSyntaxUid: inst.transferSyntaxUid,
          data: Readable.from([inst.dataset]),
        });
        if (r.status === DimseStatus.Success) acknowledged.push(sent(inst));
        else counts.unexpected.push(`C-STORE status ${r.status.toString(16)}`);
      }
      await client.release();
    };

    const dimseWorker = async (worker: number) => {
      for (let round = 0; Date.now() < deadline; round++) {
        if (storescu) await viaStorescu(worker, round);
        else await viaClient(worker);
        await pause(20);
      }
    };

    const stowWorker = async () => {
      while (Date.now() < deadline) {
        const instances = batch(PER_REQUEST);
        const { body, contentType } = stowBody(instances.map((i) => i.part10));
        const res = await fetch(`${s.httpUrl}/dicomweb/studies`, {
          method: 'POST',
          headers: {
            authorization: s.auth,
            'content-type': contentType,
            accept: 'application/dicom+json',
          },
          body,
        });
        const text = await res.text();
        if (res.status === 503) {
          counts.stow503++;
          const retryAfter = Number(res.headers.get('retry-after'));
          if (retryAfter !== 1 || !/problem\+json/.test(res.headers.get('content-type') ?? '')) {
            counts.unexpected.push(`503 without Retry-After or problem details: ${text}`);
          }
          // A well-behaved client waits Retry-After; this one comes back sooner, to keep pressing.
          await pause(100);
          continue;
        }
        counts.stowRequests++;
        if (res.status !== 200)
          counts.unexpected.push(`STOW-RS ${res.status}: ${text.slice(0, 300)}`);
        const json = JSON.parse(text) as Record<
          string,
          { Value?: Record<string, { Value?: string[] }>[] }
        >;
        const stored = new Set(
          (json['00081199']?.Value ?? []).map((item) => item['00081155']?.Value?.[0]),
        );
        for (const inst of instances)
          if (stored.has(inst.sopInstanceUid)) acknowledged.push(sent(inst));
      }
    };

    const qidoWorker = async () => {
      while (Date.now() < deadline) {
        const started = performance.now();
        const res = await fetch(`${s.httpUrl}/dicomweb/studies?limit=50&includefield=00201208`, {
          headers: { authorization: s.auth, accept: 'application/dicom+json' },
        });
        await res.arrayBuffer();
        qidoMs.push(performance.now() - started);
        counts.qido++;
        if (res.status !== 200 && res.status !== 204)
          counts.unexpected.push(`QIDO-RS ${res.status}`);
        await pause(50);
      }
    };

    await Promise.all([
      ...Array.from({ length: DIMSE_WORKERS }, (_, w) => dimseWorker(w)),
      ...Array.from({ length: STOW_WORKERS }, () => stowWorker()),
      ...Array.from({ length: QIDO_WORKERS }, () => qidoWorker()),
    ]);
    clearInterval(sampler);
    qidoMs.sort((a, b) => a - b);

    const summary = {
      acknowledged: acknowledged.length,
      ...counts,
      unexpected: counts.unexpected.length,
      qidoP50Ms: Math.round(percentile(qidoMs, 50)),
      qidoP95Ms: Math.round(percentile(qidoMs, 95)),
      peakRssMiB: Math.round(peakRss / 1048576),
      dimseClient: storescu ? 'storescu (TCP_NODELAY=1)' : 'DimseClient',
    };
    console.log(`load test: ${JSON.stringify(summary)}`);
    expect(counts.unexpected).toEqual([]);
    // The limits were reached and answered as transient refusals, and work got through.
    expect(counts.associationsRefused).toBeGreaterThan(0);
    expect(counts.stow503).toBeGreaterThan(0);
    expect(counts.associations).toBeGreaterThan(0);
    expect(counts.stowRequests).toBeGreaterThan(0);
    expect(counts.qido).toBeGreaterThan(0);

    // Nothing acknowledged is lost: every one is in the catalog...
    const uids = acknowledged.map((a) => a.sopInstanceUid);
    const rows = await s.running.database.database.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = ANY($1::text[])',
      [uids],
    );
    expect(rows[0]!.n).toBe(new Set(uids).size);
    expect(new Set(uids).size).toBe(uids.length);
    // ...and a sample reads back byte-identical.
    const step = Math.max(1, Math.floor(acknowledged.length / 30));
    for (let i = 0; i < acknowledged.length; i += step) {
      const a = acknowledged[i]!;
      expect(sha256(await retrieveDataset(s.httpUrl, s.auth, a))).toBe(a.sha256);
    }

    // No crash: the archive still answers, and memory stayed bounded.
    const health = await fetch(`${s.httpUrl}/health`);
    expect(health.status).toBe(200);
    expect(peakRss).toBeLessThan(RSS_BOUND);
  }, 180_000);
});
