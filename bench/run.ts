/**
 * `npm run bench`: C-STORE ingest over one association (dcmtk storescu, TCP_NODELAY=1) into
 * Strata, dcmtk storescp and Orthanc, plus STOW-RS into Strata (and Orthanc's DICOMweb plugin if
 * installed). See bench/results/README.md for how to read the output.
 *
 * Environment:
 *   BENCH_REPEAT=3                      runs per measurement (the median is reported)
 *   BENCH_ONLY=strata,strata-noaudit,storescp,orthanc  receivers to measure (strata-noaudit:
 *                                       Strata with its audit appends made no-ops, for their cost)
 *   BENCH_DATASETS=ct512k,small52k      datasets (generated into bench/.work/datasets if absent)
 *   BENCH_PROTOCOLS=cstore,stow,tiers,lifecycle,retrieve,audit,load
 *                                       C-STORE, STOW-RS (uses ct512k), the tier benchmark
 *                                       (bench/tiers.ts: a hot → warm move vs raw PutObject, fixity),
 *                                       the lifecycle benchmark (bench/lifecycle.ts: simulation
 *                                       and retention sweep over a synthetic catalog; its size:
 *                                       BENCH_LIFECYCLE_INSTANCES=1000000) and the query/retrieve
 *                                       benchmark (bench/retrieve.ts: C-MOVE, C-GET and C-FIND of
 *                                       Strata beside Orthanc; BENCH_RETRIEVE_QUERIES=200), and the
 *                                       audit trail benchmark (bench/audit.ts: verify and searches
 *                                       over a synthetic trail, BENCH_AUDIT_ROWS=1000000), and the
 *                                       load benchmark (bench/load.ts: 4 storescu associations + 2
 *                                       STOW-RS clients + QIDO-RS readers at once for
 *                                       BENCH_LOAD_SECONDS=300), and the two-node benchmark
 *                                       (bench/nodes.ts: C-STORE into one node vs two nodes on one
 *                                       database, with CPU use; BENCH_NODES_INSTANCES=2000,
 *                                       BENCH_NODES_ASSOCIATIONS=4). Without cstore and stow no
 *                                       ingest report is written.
 *   BENCH_STOW_CONCURRENCY=4            STOW-RS requests in flight
 *   BENCH_STOW_INSTANCES=10             instances per STOW-RS request
 *   BENCH_RUN_TIMEOUT_S=600             bound on one transfer (then recorded as failed)
 *   BENCH_START_TIMEOUT_S=180           bound on a receiver's start-up
 *   BENCH_TMPDIR=<os tmpdir>            where fresh receiver directories are created
 *   BENCH_KEEP=1                        keep receiver directories (for debugging)
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dataset, DATASET_SPECS, ensureDataset } from './datasets.js';
import { runAuditBench } from './audit.js';
import { runLifecycleBench } from './lifecycle.js';
import { runLoadBench } from './load.js';
import { runNodesBench } from './nodes.js';
import { installCleanup, positiveInt, run, spawnTracked, waitExit } from './processes.js';
import {
  CALLING_AET,
  dcmtkEnv,
  dcmtkProblems,
  ORTHANC_BINARY,
  ORTHANC_DICOMWEB_PLUGIN,
  RECEIVER_KINDS,
  type Receiver,
  type ReceiverKind,
  startReceiver,
  storescuArgs,
} from './receivers.js';
import {
  describeMachine,
  gitState,
  type Measurement,
  NAGLE_NOTE,
  type Protocol,
  type Report,
  summarize,
  textTable,
  writeReport,
} from './report.js';
import { runRetrieveBench } from './retrieve.js';
import { stowAll } from './stow.js';
import { runTierBench } from './tiers.js';

const log = (line: string) => console.error(`[bench] ${line}`);

/** The project root: two levels above dist/bench/run.js, else the working directory. */
function projectRoot(): string {
  const candidate = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return existsSync(join(candidate, 'package.json')) && existsSync(join(candidate, 'bench'))
    ? candidate
    : process.cwd();
}

function list(name: string, allowed: readonly string[], fallback: readonly string[]): string[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item)) {
      throw new Error(`${name}: unknown value '${item}' (allowed: ${allowed.join(', ')})`);
    }
  }
  return items;
}

const PROTOCOLS = ['cstore', 'stow', 'tiers', 'lifecycle', 'retrieve', 'audit', 'load', 'nodes'];

interface Settings {
  root: string;
  work: string;
  logDir: string;
  tmpRoot: string;
  repeat: number;
  receivers: ReceiverKind[];
  datasets: string[];
  protocols: string[];
  stowConcurrency: number;
  stowInstances: number;
  runTimeoutMs: number;
  startTimeoutMs: number;
  keep: boolean;
}

function settingsFromEnv(root: string, stamp: string): Settings {
  const work = join(root, 'bench', '.work');
  return {
    root,
    work,
    logDir: join(work, 'logs', stamp),
    tmpRoot: process.env.BENCH_TMPDIR?.trim() || tmpdir(),
    repeat: positiveInt('BENCH_REPEAT', 3),
    receivers: list('BENCH_ONLY', RECEIVER_KINDS, RECEIVER_KINDS) as ReceiverKind[],
    datasets: list(
      'BENCH_DATASETS',
      DATASET_SPECS.map((d) => d.name),
      DATASET_SPECS.map((d) => d.name),
    ),
    protocols: list('BENCH_PROTOCOLS', PROTOCOLS, PROTOCOLS),
    stowConcurrency: positiveInt('BENCH_STOW_CONCURRENCY', 4),
    stowInstances: positiveInt('BENCH_STOW_INSTANCES', 10),
    runTimeoutMs: positiveInt('BENCH_RUN_TIMEOUT_S', 600) * 1000,
    startTimeoutMs: positiveInt('BENCH_START_TIMEOUT_S', 180) * 1000,
    keep: process.env.BENCH_KEEP === '1',
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function memoryFields(receiver: Receiver): Pick<Measurement, 'peakRssMB' | 'postgres'> {
  const memory = receiver.memory();
  const mb = (kib: number) => (kib * 1024) / 1e6;
  return {
    peakRssMB: memory.peakRssBytes === null ? null : memory.peakRssBytes / 1e6,
    postgres: memory.postgres
      ? {
          processes: memory.postgres.processes,
          pssPeakMB: mb(memory.postgres.pssPeakKiB),
          rssSumPeakMB: mb(memory.postgres.rssSumPeakKiB),
          hwmSumEndMB: mb(memory.postgres.hwmSumEndKiB),
        }
      : undefined,
  };
}

/** The last `n` non-empty lines of a log, without terminal colours, on one line. */
async function logTail(file: string, n: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

interface Transfer {
  ok: boolean;
  seconds: number;
  error?: string;
  details: Record<string, unknown>;
}

async function cstoreTransfer(
  receiver: Receiver,
  dataset: Dataset,
  settings: Settings,
  logFile: string,
): Promise<Transfer> {
  const args = storescuArgs(receiver.aet, receiver.dicomPort, dataset.dir);
  const started = performance.now();
  const child = spawnTracked('storescu', args, { env: dcmtkEnv(), logFile });
  const exit = await waitExit(child, settings.runTimeoutMs);
  const seconds = (performance.now() - started) / 1000;
  const problems = dcmtkProblems(await readFile(logFile, 'utf8').catch(() => ''));
  const details = {
    storescuExitCode: exit.code,
    storescuSignal: exit.signal,
    storescuLog: logFile,
  };
  if (exit.timedOut) {
    return {
      ok: false,
      seconds,
      error: `storescu timed out after ${settings.runTimeoutMs / 1000} s`,
      details,
    };
  }
  if (exit.spawnError)
    return { ok: false, seconds, error: `storescu: ${exit.spawnError}`, details };
  if (exit.code !== 0) {
    // dcmtk 3.6.7 logs a refused store's status only at -v: the receiver's log tells why.
    const what = problems.length > 0 ? problems.join(' / ') : 'no error line in its log';
    return {
      ok: false,
      seconds,
      error: `storescu exited with ${exit.code ?? exit.signal} (${what})`,
      details,
    };
  }
  if (problems.length > 0) {
    return { ok: false, seconds, error: `storescu reported: ${problems.join(' / ')}`, details };
  }
  return { ok: true, seconds, details };
}

async function stowTransfer(
  receiver: Receiver,
  dataset: Dataset,
  settings: Settings,
): Promise<Transfer> {
  if (!receiver.stow) return { ok: false, seconds: 0, error: 'no STOW-RS endpoint', details: {} };
  const result = await stowAll({
    url: receiver.stow.url,
    headers: receiver.stow.headers,
    files: dataset.files.map((f) => ({ path: join(dataset.dir, f.path), size: f.size })),
    instancesPerRequest: settings.stowInstances,
    concurrency: settings.stowConcurrency,
    timeoutMs: settings.runTimeoutMs,
  });
  const details = {
    requests: result.requests,
    statuses: result.statuses,
    failures: result.failures.slice(0, 10),
  };
  if (result.timedOut) {
    return {
      ok: false,
      seconds: result.seconds,
      error: `STOW-RS timed out after ${settings.runTimeoutMs / 1000} s`,
      details,
    };
  }
  if (result.failures.length > 0) {
    return {
      ok: false,
      seconds: result.seconds,
      error: `${result.failures.length} STOW-RS request(s) not 200: ${result.failures[0]}`,
      details,
    };
  }
  return { ok: true, seconds: result.seconds, details };
}

async function measure(
  kind: ReceiverKind,
  protocol: Protocol,
  dataset: Dataset,
  runIndex: number,
  settings: Settings,
): Promise<Measurement> {
  const mode =
    protocol === 'C-STORE'
      ? '1 association'
      : `${settings.stowConcurrency} in flight x ${settings.stowInstances} inst`;
  const tag = `${kind}-${protocol === 'C-STORE' ? 'cstore' : 'stow'}-${dataset.name}-${runIndex}`;
  const base: Measurement = {
    receiver: kind,
    protocol,
    mode,
    dataset: dataset.name,
    run: runIndex,
    ok: false,
    instances: dataset.instances,
    bytes: dataset.bytes,
    seconds: null,
    instancesPerSecond: null,
    mbPerSecond: null,
    stored: null,
    countMethod: null,
    receiverStartSeconds: null,
    peakRssMB: null,
    logFile: join(settings.logDir, `${tag}.${kind}.log`),
  };
  let receiver: Receiver;
  try {
    receiver = await startReceiver(kind, {
      root: settings.root,
      tmpRoot: settings.tmpRoot,
      startTimeoutMs: settings.startTimeoutMs,
      keep: settings.keep,
      logFile: base.logFile!,
      dicomweb: protocol === 'STOW-RS',
    });
  } catch (error) {
    return { ...base, error: `start failed: ${errorText(error)}` };
  }
  try {
    const transfer =
      protocol === 'C-STORE'
        ? await cstoreTransfer(
            receiver,
            dataset,
            settings,
            join(settings.logDir, `${tag}.storescu.log`),
          )
        : await stowTransfer(receiver, dataset, settings);
    const result: Measurement = {
      ...base,
      receiverStartSeconds: receiver.startSeconds,
      seconds: transfer.seconds,
      instancesPerSecond: dataset.instances / transfer.seconds,
      mbPerSecond: dataset.bytes / 1e6 / transfer.seconds,
      details: transfer.details,
    };
    let error = transfer.error;
    try {
      // A receiver that acknowledged everything must show it at once; allow a short settle only.
      const counted = await receiver.count(dataset.instances, transfer.ok ? 10_000 : 0);
      result.stored = counted.stored;
      result.countMethod = counted.method;
      if (counted.stored !== dataset.instances && !error) {
        error = `receiver holds ${counted.stored} of ${dataset.instances} instances (${counted.method})`;
      }
    } catch (e) {
      error ??= `could not count stored instances: ${errorText(e)}`;
    }
    const exited = receiver.exitedEarly();
    if (exited !== null) {
      error = `${kind} ${exited} during the run (not stopped by the benchmark)${error ? `; ${error}` : ''}`;
    }
    Object.assign(result, memoryFields(receiver));
    result.ok = error === undefined;
    if (error !== undefined) {
      const tail = await logTail(receiver.logFile, 3);
      result.error = tail ? `${error}; ${kind} log: ${tail}` : error;
    }
    return result;
  } catch (error) {
    return { ...base, error: errorText(error) };
  } finally {
    await receiver.stop().catch((e: unknown) => log(`stopping ${kind}: ${errorText(e)}`));
  }
}

function progress(m: Measurement, repeat: number): string {
  const f = (v: number | null, d = 1) => (v === null ? '-' : v.toFixed(d));
  const pg = m.postgres ? ` + PG ${f(m.postgres.pssPeakMB, 0)} MB` : '';
  const head = `${m.receiver} ${m.protocol} ${m.dataset} run ${m.run}/${repeat}:`;
  if (!m.ok) return `${head} FAILED after ${f(m.seconds, 2)} s: ${m.error ?? 'unknown error'}`;
  return (
    `${head} ${m.instances} inst, ${f(m.bytes / 1e6)} MB in ${f(m.seconds, 2)} s -> ` +
    `${f(m.instancesPerSecond)} inst/s, ${f(m.mbPerSecond)} MB/s, peak RSS ${f(m.peakRssMB, 0)} MB${pg}`
  );
}

async function available(kind: ReceiverKind, root: string): Promise<string | null> {
  const which = async (tool: string) => (await run('which', [tool])).ok;
  for (const tool of ['storescu', 'echoscu']) {
    if (!(await which(tool))) return `${tool} (dcmtk) not found`;
  }
  if (kind === 'storescp' && !(await which('storescp'))) return 'storescp (dcmtk) not found';
  if (kind === 'orthanc' && !existsSync(ORTHANC_BINARY)) return `${ORTHANC_BINARY} not found`;
  if (
    (kind === 'strata' || kind === 'strata-noaudit') &&
    !existsSync(join(root, 'dist', 'src', 'main.js'))
  ) {
    return 'dist/src/main.js not found (npm run build)';
  }
  return null;
}

/** The C-STORE and STOW-RS runs, their report written; returns every run. */
async function ingestBench(settings: Settings, root: string, date: string): Promise<Measurement[]> {
  log(NAGLE_NOTE);
  const receivers: ReceiverKind[] = [];
  for (const kind of settings.receivers) {
    const missing = await available(kind, root);
    if (missing) log(`skipping ${kind}: ${missing}`);
    else receivers.push(kind);
  }

  const datasets: Dataset[] = [];
  for (const spec of DATASET_SPECS.filter((d) => settings.datasets.includes(d.name))) {
    datasets.push(await ensureDataset(spec, join(settings.work, 'datasets'), log));
  }

  const plan: { kind: ReceiverKind; protocol: Protocol; dataset: Dataset }[] = [];
  if (settings.protocols.includes('cstore')) {
    for (const dataset of datasets) {
      for (const kind of receivers) plan.push({ kind, protocol: 'C-STORE', dataset });
    }
  }
  const ct = datasets.find((d) => d.name === 'ct512k');
  if (settings.protocols.includes('stow')) {
    if (!ct) log('skipping STOW-RS: it uses the ct512k dataset, which is not selected');
    else {
      if (receivers.includes('strata'))
        plan.push({ kind: 'strata', protocol: 'STOW-RS', dataset: ct });
      if (receivers.includes('orthanc')) {
        if (existsSync(ORTHANC_DICOMWEB_PLUGIN)) {
          plan.push({ kind: 'orthanc', protocol: 'STOW-RS', dataset: ct });
        } else log(`skipping Orthanc STOW-RS: ${ORTHANC_DICOMWEB_PLUGIN} not installed`);
      }
    }
  }

  const machine = await describeMachine();
  const measurements: Measurement[] = [];
  for (const step of plan) {
    for (let r = 1; r <= settings.repeat; r++) {
      const m = await measure(step.kind, step.protocol, step.dataset, r, settings);
      measurements.push(m);
      log(progress(m, settings.repeat));
    }
  }

  const report: Report = {
    date,
    git: await gitState(root),
    note: NAGLE_NOTE,
    machine,
    settings: {
      repeat: settings.repeat,
      receivers,
      datasets: settings.datasets,
      protocols: settings.protocols,
      stowConcurrency: settings.stowConcurrency,
      stowInstancesPerRequest: settings.stowInstances,
      runTimeoutS: settings.runTimeoutMs / 1000,
      startTimeoutS: settings.startTimeoutMs / 1000,
      callingAet: CALLING_AET,
    },
    datasets: datasets.map((d) => ({
      name: d.name,
      description: d.description,
      instances: d.instances,
      bytes: d.bytes,
      studies: d.studies,
    })),
    summaries: summarize(measurements),
    measurements,
  };
  const files = await writeReport(join(root, 'bench', 'results'), report);

  console.log(`\nStrata ingest benchmark ${date} (git ${report.git.label})`);
  console.log(
    `${machine.cpuModel} x ${machine.cpuCount}, ${machine.totalMemoryGB} GB, kernel ${machine.kernel}, ` +
      `Node ${machine.node}, dcmtk ${machine.dcmtk}, ${machine.orthanc}`,
  );
  console.log(`${NAGLE_NOTE}. Medians of ${settings.repeat} run(s); MB = 10^6 bytes.\n`);
  console.log(textTable(report.summaries));
  console.log(`\nwritten: ${files.json}\n         ${files.md}`);
  return measurements;
}

async function main(): Promise<void> {
  installCleanup();
  const date = new Date().toISOString();
  const root = projectRoot();
  const settings = settingsFromEnv(root, date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z'));
  await mkdir(settings.logDir, { recursive: true });
  log(`project ${root}; logs in ${settings.logDir}`);

  const ingest = settings.protocols.includes('cstore') || settings.protocols.includes('stow');
  const measurements = ingest ? await ingestBench(settings, root, date) : [];
  if (settings.protocols.includes('tiers')) {
    try {
      const tiers = await runTierBench(root);
      console.log(`written: ${tiers.json}\n         ${tiers.md}`);
    } catch (error) {
      console.log(`the tier benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  if (settings.protocols.includes('lifecycle')) {
    try {
      const lifecycle = await runLifecycleBench(root);
      console.log(`written: ${lifecycle.json}\n         ${lifecycle.md}`);
    } catch (error) {
      console.log(`the lifecycle benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  if (settings.protocols.includes('retrieve')) {
    try {
      const retrieve = await runRetrieveBench(root);
      console.log(`written: ${retrieve.json}\n         ${retrieve.md}`);
    } catch (error) {
      console.log(`the query/retrieve benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  if (settings.protocols.includes('audit')) {
    try {
      const audit = await runAuditBench(root);
      console.log(`written: ${audit.json}\n         ${audit.md}`);
    } catch (error) {
      console.log(`the audit benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  if (settings.protocols.includes('nodes')) {
    try {
      const nodes = await runNodesBench(root);
      console.log(`written: ${nodes.json}\n         ${nodes.md}`);
    } catch (error) {
      console.log(`the two-node benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  if (settings.protocols.includes('load')) {
    try {
      const loadReport = await runLoadBench(root);
      console.log(`written: ${loadReport.json}\n         ${loadReport.md}`);
    } catch (error) {
      console.log(`the load benchmark failed: ${errorText(error)}`);
      process.exitCode = 1;
    }
  }
  const failed = measurements.filter((m) => !m.ok).length;
  if (failed > 0) {
    console.log(
      `${failed} of ${measurements.length} run(s) failed: see the files above and ${settings.logDir}`,
    );
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(`[bench] ${errorText(error)}`);
  process.exitCode = 1;
});
