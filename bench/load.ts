/**
 * Load benchmark (part of `npm run bench` as protocol `load`; also alone: `node dist/bench/load.js`
 * after `npm run build`). One Strata, started fresh with its default limits (bench/receivers.ts),
 * is kept busy for BENCH_LOAD_SECONDS by, all at once:
 *   - BENCH_LOAD_ASSOCIATIONS storescu processes in a loop (TCP_NODELAY=1), each run one
 *     association sending a new batch of BENCH_LOAD_PER_ASSOCIATION instances;
 *   - BENCH_LOAD_STOW_CLIENTS STOW-RS clients in a loop, BENCH_LOAD_PER_REQUEST instances a request;
 *   - BENCH_LOAD_QIDO_READERS QIDO-RS readers querying the study list back to back.
 * Every instance is new (fresh UIDs, ~52 kB: 160x160x16 bit CT), studies of 1000 instances.
 * Reported: instances/s sustained (C-STORE, STOW-RS, total: acknowledged instances / wall time),
 * QIDO-RS latency p50/p95 under that load, refusals (associations rejected, 503s: none expected
 * below the default limits), the peak RSS of the Strata process (VmHWM) and its RSS over time,
 * and whether the archive holds every acknowledged instance afterwards (QIDO-RS count).
 * Written to bench/results/<date>-load-<git>.md|json.
 *
 *   BENCH_LOAD_SECONDS=300          how long the load lasts
 *   BENCH_LOAD_ASSOCIATIONS=4       storescu associations at a time
 *   BENCH_LOAD_STOW_CLIENTS=2       STOW-RS requests at a time
 *   BENCH_LOAD_QIDO_READERS=2       QIDO-RS queries at a time
 *   BENCH_LOAD_PER_ASSOCIATION=100  instances per storescu association
 *   BENCH_LOAD_PER_REQUEST=10       instances per STOW-RS request
 *   BENCH_START_TIMEOUT_S=180, BENCH_TMPDIR, BENCH_KEEP=1  as for the other benchmarks
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeInstance, newUid } from '../src/dicom/testing/index.js';
import {
  installCleanup,
  positiveInt,
  procStatus,
  sleep,
  spawnTracked,
  waitExit,
} from './processes.js';
import { dcmtkEnv, dcmtkProblems, startReceiver, storescuArgs } from './receivers.js';
import { describeMachine, fmt, gitState, markdownHeader, median, type Report } from './report.js';

const log = (line: string) => console.error(`[bench:load] ${line}`);

export const LOAD_NOTE =
  'storescu runs with TCP_NODELAY=1 (dcmtk 3.6.7 leaves Nagle on otherwise); Strata sets ' +
  'TCP_NODELAY itself; clients and server share the machine, on loopback';

const CT = '1.2.840.10008.5.1.4.1.1.2';
/** 160x160 pixels of 16 bits, as the small52k dataset: ~52 kB per instance. */
const PIXEL_BYTES = 160 * 160 * 2;
const INSTANCES_PER_STUDY = 1000;

interface Settings {
  seconds: number;
  associations: number;
  stowClients: number;
  qidoReaders: number;
  perAssociation: number;
  perRequest: number;
  startTimeoutMs: number;
  tmpRoot: string;
  keep: boolean;
}

export interface LoadResults {
  seconds: number;
  cstore: { instances: number; associations: number; refused: number; failed: number };
  stow: { instances: number; requests: number; refused503: number; failed: number };
  instancesPerSecond: { cstore: number; stow: number; total: number };
  qido: { queries: number; failed: number; p50Ms: number | null; p95Ms: number | null };
  peakRssMB: number | null;
  /** RSS of the Strata process every 30 s (MB). */
  rssTimelineMB: { atSeconds: number; rssMB: number }[];
  stored: number | null;
  countMethod: string | null;
  errors: string[];
}

export interface LoadReport extends Pick<Report, 'date' | 'git' | 'note' | 'machine'> {
  settings: Settings;
  results: LoadResults | null;
  error?: string;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Instances of one study after another, INSTANCES_PER_STUDY each (one per worker at a time). */
class InstanceSource {
  private study = newUid();
  private series = newUid();
  private made = 0;

  constructor(private readonly patientId: string) {}

  next(): ReturnType<typeof makeInstance> {
    if (this.made > 0 && this.made % INSTANCES_PER_STUDY === 0) {
      this.study = newUid();
      this.series = newUid();
    }
    this.made++;
    return makeInstance({
      sopClassUid: CT,
      studyInstanceUid: this.study,
      seriesInstanceUid: this.series,
      patientId: this.patientId,
      patientName: 'Load^Bench',
      instanceNumber: this.made,
      rows: 160,
      columns: 160,
      pixelBytes: PIXEL_BYTES,
    });
  }
}

export async function runLoadBench(root: string): Promise<{ md: string; json: string }> {
  const settings: Settings = {
    seconds: positiveInt('BENCH_LOAD_SECONDS', 300),
    associations: positiveInt('BENCH_LOAD_ASSOCIATIONS', 4),
    stowClients: positiveInt('BENCH_LOAD_STOW_CLIENTS', 2),
    qidoReaders: positiveInt('BENCH_LOAD_QIDO_READERS', 2),
    perAssociation: positiveInt('BENCH_LOAD_PER_ASSOCIATION', 100),
    perRequest: positiveInt('BENCH_LOAD_PER_REQUEST', 10),
    startTimeoutMs: positiveInt('BENCH_START_TIMEOUT_S', 180) * 1000,
    tmpRoot: process.env.BENCH_TMPDIR?.trim() || tmpdir(),
    keep: process.env.BENCH_KEEP === '1',
  };
  const date = new Date().toISOString();
  const stamp = date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
  const logDir = join(root, 'bench', '.work', 'logs', `${stamp}-load`);
  await mkdir(logDir, { recursive: true });
  const report: LoadReport = {
    date,
    git: await gitState(root),
    note: LOAD_NOTE,
    machine: await describeMachine(),
    settings,
    results: null,
  };
  log(
    `${settings.associations} storescu associations + ${settings.stowClients} STOW-RS clients + ` +
      `${settings.qidoReaders} QIDO-RS readers for ${settings.seconds} s; logs in ${logDir}`,
  );
  try {
    report.results = await load(root, settings, logDir);
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
  }
  const dir = join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const base = join(dir, `${stamp}-load-${report.git.label}`);
  const md = markdown(report);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, md);
  console.log(`\n${md}`);
  if (report.error || (report.results?.errors.length ?? 0) > 0) process.exitCode = 1;
  return { md: `${base}.md`, json: `${base}.json` };
}

async function load(root: string, settings: Settings, logDir: string): Promise<LoadResults> {
  const receiver = await startReceiver('strata', {
    root,
    tmpRoot: settings.tmpRoot,
    startTimeoutMs: settings.startTimeoutMs,
    keep: settings.keep,
    logFile: join(logDir, 'strata.log'),
    dicomweb: true,
  });
  const errors: string[] = [];
  const error = (e: string) => {
    if (errors.length < 20) errors.push(e);
  };
  const cstore = { instances: 0, associations: 0, refused: 0, failed: 0 };
  const stow = { instances: 0, requests: 0, refused503: 0, failed: 0 };
  const qidoMs: number[] = [];
  let qidoFailed = 0;
  const rssTimeline: { atSeconds: number; rssMB: number }[] = [];
  const started = performance.now();
  const deadline = Date.now() + settings.seconds * 1000;
  const sampler = setInterval(() => {
    const status = procStatus(receiver.pid);
    if (status) {
      rssTimeline.push({
        atSeconds: Math.round((performance.now() - started) / 1000),
        rssMB: (status.vmRssKiB * 1024) / 1e6,
      });
    }
  }, 30_000);
  const { url, headers } = receiver.stow!;
  const http = url.replace(/\/dicomweb\/studies$/, '');

  const storescuWorker = async (w: number) => {
    const source = new InstanceSource(`LOADC${w}`);
    const dir = join(receiver.dir, `storescu-${w}`);
    const logFile = join(logDir, `storescu-${w}.log`);
    while (Date.now() < deadline) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      for (let i = 0; i < settings.perAssociation; i++) {
        const inst = source.next();
        await writeFile(join(dir, `${inst.sopInstanceUid}.dcm`), inst.part10);
      }
      await writeFile(logFile, '');
      const child = spawnTracked('storescu', storescuArgs(receiver.aet, receiver.dicomPort, dir), {
        env: dcmtkEnv(),
        logFile,
      });
      const exit = await waitExit(child, 600_000);
      const out = await readFile(logFile, 'utf8').catch(() => '');
      if (/Association Rejected/.test(out)) {
        cstore.refused++;
        await sleep(1000);
        continue;
      }
      cstore.associations++;
      const problems = dcmtkProblems(out);
      if (exit.code === 0 && problems.length === 0) cstore.instances += settings.perAssociation;
      else {
        cstore.failed++;
        error(`storescu ${w}: exit ${exit.code ?? exit.signal}: ${problems.join(' / ')}`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const stowWorker = async (w: number) => {
    const source = new InstanceSource(`LOADS${w}`);
    while (Date.now() < deadline) {
      const parts = Array.from({ length: settings.perRequest }, () => source.next().part10);
      const boundary = `strata-load-${newUid().slice(5, 25)}`;
      const chunks: Buffer[] = [];
      for (const part of parts) {
        chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
        chunks.push(part, Buffer.from('\r\n'));
      }
      chunks.push(Buffer.from(`--${boundary}--\r\n`));
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            ...headers,
            'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          },
          body: Buffer.concat(chunks),
          signal: AbortSignal.timeout(120_000),
        });
        const text = await res.text();
        if (res.status === 503) {
          stow.refused503++;
          await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
          continue;
        }
        stow.requests++;
        const body = JSON.parse(text || '{}') as Record<string, { Value?: unknown[] }>;
        stow.instances += body['00081199']?.Value?.length ?? 0;
        if (res.status !== 200) {
          stow.failed++;
          error(`STOW-RS ${w}: HTTP ${res.status} ${text.slice(0, 200)}`);
        }
      } catch (e) {
        stow.failed++;
        error(`STOW-RS ${w}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  const qidoReader = async () => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${http}/dicomweb/studies?limit=100&includefield=00201208`, {
          headers: { ...headers, Accept: 'application/dicom+json' },
          signal: AbortSignal.timeout(60_000),
        });
        await res.arrayBuffer();
        if (res.status !== 200 && res.status !== 204) {
          qidoFailed++;
          error(`QIDO-RS: HTTP ${res.status}`);
          continue;
        }
        qidoMs.push(performance.now() - t0);
      } catch (e) {
        qidoFailed++;
        error(`QIDO-RS: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  try {
    await Promise.all([
      ...Array.from({ length: settings.associations }, (_, w) => storescuWorker(w)),
      ...Array.from({ length: settings.stowClients }, (_, w) => stowWorker(w)),
      ...Array.from({ length: settings.qidoReaders }, () => qidoReader()),
    ]);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const status = procStatus(receiver.pid);
    if (status)
      rssTimeline.push({ atSeconds: Math.round(seconds), rssMB: (status.vmRssKiB * 1024) / 1e6 });
    const acknowledged = cstore.instances + stow.instances;
    let stored: number | null = null;
    let countMethod: string | null = null;
    try {
      const counted = await receiver.count(acknowledged, 30_000);
      stored = counted.stored;
      countMethod = counted.method;
      if (stored < acknowledged) {
        error(`the archive holds ${stored} instances, ${acknowledged} were acknowledged`);
      }
    } catch (e) {
      error(`could not count: ${e instanceof Error ? e.message : String(e)}`);
    }
    const exited = receiver.exitedEarly();
    if (exited) error(`Strata ${exited} during the run`);
    qidoMs.sort((a, b) => a - b);
    return {
      seconds,
      cstore,
      stow,
      instancesPerSecond: {
        cstore: cstore.instances / seconds,
        stow: stow.instances / seconds,
        total: acknowledged / seconds,
      },
      qido: {
        queries: qidoMs.length,
        failed: qidoFailed,
        p50Ms: percentile(qidoMs, 50),
        p95Ms: percentile(qidoMs, 95),
      },
      peakRssMB:
        receiver.memory().peakRssBytes === null ? null : receiver.memory().peakRssBytes! / 1e6,
      rssTimelineMB: rssTimeline,
      stored,
      countMethod,
      errors,
    };
  } finally {
    clearInterval(sampler);
    await receiver.stop().catch((e: unknown) => log(`stopping Strata: ${String(e)}`));
  }
}

function markdown(report: LoadReport): string {
  const s = report.settings;
  const r = report.results;
  const head = markdownHeader('Strata load benchmark', report);
  if (!r) return `${head}\n\n## Result\n\nFAILED: ${report.error ?? 'unknown error'}\n`;
  const rss = r.rssTimelineMB.map((p) => `${p.atSeconds} s: ${fmt(p.rssMB, 0)}`).join(', ');
  const medianRss = median(r.rssTimelineMB.map((p) => p.rssMB));
  return `${head}

## Load

${s.associations} storescu associations (${s.perAssociation} instances each, one after another) + ${s.stowClients} STOW-RS clients (${s.perRequest} instances a request) + ${s.qidoReaders} QIDO-RS readers (\`/dicomweb/studies?limit=100\`), all at once for ${fmt(r.seconds, 0)} s, into one fresh Strata with its default limits. New ~52 kB CT instances (160x160x16 bit), studies of ${INSTANCES_PER_STUDY}. MB = 10^6 bytes.

## Results

| figure | value |
|---|---:|
| C-STORE instances/s (acknowledged) | ${fmt(r.instancesPerSecond.cstore)} |
| STOW-RS instances/s (acknowledged) | ${fmt(r.instancesPerSecond.stow)} |
| total instances/s | ${fmt(r.instancesPerSecond.total)} |
| QIDO-RS p50 / p95 under load (ms) | ${fmt(r.qido.p50Ms, 0)} / ${fmt(r.qido.p95Ms, 0)} (${r.qido.queries} queries, ${r.qido.failed} failed) |
| associations (refused) | ${r.cstore.associations} (${r.cstore.refused}) |
| STOW-RS requests (503) | ${r.stow.requests} (${r.stow.refused503}) |
| Strata peak RSS (VmHWM, MB) | ${fmt(r.peakRssMB, 0)} |
| Strata RSS over time (MB) | ${rss || '-'} (median ${fmt(medianRss, 0)}) |
| held afterwards / acknowledged | ${r.stored ?? '-'} / ${r.cstore.instances + r.stow.instances} (${r.countMethod ?? 'not counted'}) |

${r.errors.length > 0 ? `Errors:\n\n${r.errors.map((e) => `- ${e}`).join('\n')}\n` : 'No errors.'}

Settings: \`${JSON.stringify(s)}\`
`;
}

/** The project root: two levels above dist/bench/load.js, else the working directory. */
function projectRoot(): string {
  const candidate = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return existsSync(join(candidate, 'package.json')) ? candidate : process.cwd();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  installCleanup();
  runLoadBench(projectRoot()).catch((error: unknown) => {
    console.error(`[bench:load] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
