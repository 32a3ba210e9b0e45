/**
 * Two-node benchmark (protocol `nodes` of `npm run bench`; also alone: `node dist/bench/nodes.js`
 * after `npm run build`): C-STORE ingest into one Strata node, then into two nodes of one
 * deployment, the same total load split evenly across them. Both modes use the same external-style
 * database (one embedded PostgreSQL started by the benchmark, given to every node as DATABASE_URL,
 * a fresh database per run) and a hot tier on a shared folder, with one archive key file: only the
 * number of Strata processes differs. Reported per mode: instances/s (acknowledged instances /
 * wall time), and where the CPU went (the machine's busy share over the run, and CPU seconds of
 * the Strata processes and of PostgreSQL per 1000 instances), so that whether a second node adds
 * throughput on this machine can be explained, not only seen. Written to
 * bench/results/<date>-nodes-<git>.md|json.
 *
 *   BENCH_NODES_INSTANCES=2000     instances per run (~52 kB: 160x160x16 bit CT, studies of 100)
 *   BENCH_NODES_ASSOCIATIONS=4     storescu associations at once (TCP_NODELAY=1), split evenly
 *                                  across the nodes; each sends INSTANCES / ASSOCIATIONS
 *   BENCH_REPEAT=3                 runs per mode (medians reported)
 *   BENCH_START_TIMEOUT_S=180, BENCH_TMPDIR, BENCH_KEEP=1  as for the other benchmarks
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/database/index.js';
import { makeInstance, newUid } from '../src/dicom/testing/index.js';
import { OpenPgpRepository } from '../src/storage/openpgp.repository.js';
import {
  descendants,
  freePort,
  installCleanup,
  positiveInt,
  sleep,
  spawnTracked,
  stopChild,
  waitExit,
} from './processes.js';
import { dcmtkEnv, dcmtkProblems, storescuArgs } from './receivers.js';
import { describeMachine, fmt, gitState, markdownHeader, median, type Report } from './report.js';

const log = (line: string) => console.error(`[bench:nodes] ${line}`);

export const NODES_NOTE =
  'storescu runs with TCP_NODELAY=1 (dcmtk 3.6.7 leaves Nagle on otherwise); Strata sets ' +
  'TCP_NODELAY itself; clients, nodes and PostgreSQL share the machine, on loopback';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const PIXEL_BYTES = 160 * 160 * 2;
const INSTANCES_PER_STUDY = 100;
const PASSPHRASE = randomBytes(18).toString('base64url');
/** Clock ticks per second of /proc/<pid>/stat and /proc/stat (USER_HZ; 100 on Linux). */
const HZ = 100;

interface Settings {
  instances: number;
  associations: number;
  repeat: number;
  startTimeoutMs: number;
  tmpRoot: string;
  keep: boolean;
}

interface Run {
  nodes: 1 | 2;
  run: number;
  ok: boolean;
  error?: string;
  seconds: number | null;
  instancesPerSecond: number | null;
  mbPerSecond: number | null;
  stored: number | null;
  /** Share of the machine's CPU time (all cores) that was busy over the transfer, in %. */
  machineBusyPercent: number | null;
  /** CPU seconds per 1000 instances: the Strata processes, and the PostgreSQL processes. */
  strataCpuPer1000: number | null;
  postgresCpuPer1000: number | null;
  /** The rest of the busy time (storescu, the kernel's share not charged to those, others). */
  otherCpuPer1000: number | null;
  /** Instances acknowledged by each node (QIDO is not needed: the catalog is shared). */
  perNode: number[];
}

export interface NodesReport extends Pick<Report, 'date' | 'git' | 'note' | 'machine'> {
  settings: Settings;
  runs: Run[];
  summary: {
    nodes: number;
    instancesPerSecond: number | null;
    machineBusyPercent: number | null;
    strataCpuPer1000: number | null;
    postgresCpuPer1000: number | null;
    otherCpuPer1000: number | null;
    ok: string;
  }[];
  error?: string;
}

/** utime + stime of a process, in clock ticks; null once it has exited. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** The machine's total and idle clock ticks (all cores) from /proc/stat. */
function machineTicks(): { total: number; idle: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const n = cpu.map(Number);
  return { total: n.reduce((a, b) => a + b, 0), idle: (n[3] ?? 0) + (n[4] ?? 0) };
}

/** CPU ticks of every PostgreSQL process of the benchmark's cluster, by pid. */
function postgresTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of descendants(process.pid)) {
    if (d.comm !== 'postgres') continue;
    const t = cpuTicks(d.pid);
    if (t !== null) out.set(d.pid, t);
  }
  return out;
}

export async function runNodesBench(root: string): Promise<{ md: string; json: string }> {
  const settings: Settings = {
    instances: positiveInt('BENCH_NODES_INSTANCES', 2000),
    associations: positiveInt('BENCH_NODES_ASSOCIATIONS', 4),
    repeat: positiveInt('BENCH_REPEAT', 3),
    startTimeoutMs: positiveInt('BENCH_START_TIMEOUT_S', 180) * 1000,
    tmpRoot: process.env.BENCH_TMPDIR?.trim() || tmpdir(),
    keep: process.env.BENCH_KEEP === '1',
  };
  if (settings.associations % 2 !== 0) {
    throw new Error('BENCH_NODES_ASSOCIATIONS must be even (split evenly across two nodes)');
  }
  const main = join(root, 'dist', 'src', 'main.js');
  if (!existsSync(main))
    throw new Error(`${main} does not exist: build Strata first (npm run build)`);
  const date = new Date().toISOString();
  const stamp = date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
  const logDir = join(root, 'bench', '.work', 'logs', `${stamp}-nodes`);
  await mkdir(logDir, { recursive: true });
  const report: NodesReport = {
    date,
    git: await gitState(root),
    note: NODES_NOTE,
    machine: await describeMachine(),
    settings,
    runs: [],
    summary: [],
  };
  await mkdir(settings.tmpRoot, { recursive: true });
  const work = await mkdtemp(join(settings.tmpRoot, 'strata-nodes-'));
  // The embedded PostgreSQL runs as 'postgres' when we are root: it must traverse this folder.
  await chmod(work, 0o755);
  log(
    `${settings.instances} instances over ${settings.associations} associations, 1 node vs 2 ` +
      `nodes, ${settings.repeat} run(s) each; work dir ${work}; logs in ${logDir}`,
  );
  let cluster: Awaited<ReturnType<typeof startEmbeddedPostgres>> | null = null;
  try {
    cluster = await startEmbeddedPostgres(join(work, 'pg'), { log, warn: log });
    const dirs = await writeDataset(work, settings);
    const keyFile = join(work, 'archive.private.asc');
    const pair = await new OpenPgpRepository().generateKeyPair(PASSPHRASE);
    await writeFile(keyFile, pair.armoredPrivate, { mode: 0o600 });
    let n = 0;
    for (let r = 1; r <= settings.repeat; r++) {
      // Alternated, so that a drift of the machine over the runs weighs on both modes alike.
      for (const nodes of [1, 2] as const) {
        const result = await oneRun(root, main, cluster.url, work, keyFile, dirs, nodes, r, n++, {
          settings,
          logDir,
        });
        report.runs.push(result);
        log(describeRun(result));
      }
    }
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
  } finally {
    await cluster?.stop().catch(() => undefined);
    if (!settings.keep) await rm(work, { recursive: true, force: true, maxRetries: 3 });
  }
  for (const nodes of [1, 2]) {
    const ok = report.runs.filter((x) => x.nodes === nodes && x.ok);
    const med = (pick: (x: Run) => number | null) =>
      median(ok.map(pick).filter((v): v is number => v !== null));
    report.summary.push({
      nodes,
      instancesPerSecond: med((x) => x.instancesPerSecond),
      machineBusyPercent: med((x) => x.machineBusyPercent),
      strataCpuPer1000: med((x) => x.strataCpuPer1000),
      postgresCpuPer1000: med((x) => x.postgresCpuPer1000),
      otherCpuPer1000: med((x) => x.otherCpuPer1000),
      ok: `${ok.length}/${report.runs.filter((x) => x.nodes === nodes).length}`,
    });
  }
  const dir = join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const base = join(dir, `${stamp}-nodes-${report.git.label}`);
  const md = markdown(report);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, md);
  console.log(`\n${md}`);
  if (report.error || report.runs.some((x) => !x.ok)) process.exitCode = 1;
  return { md: `${base}.md`, json: `${base}.json` };
}

/** One folder of Part 10 files per association (reused by every run: each run has its own database). */
async function writeDataset(work: string, settings: Settings): Promise<string[]> {
  const per = Math.ceil(settings.instances / settings.associations);
  const dirs: string[] = [];
  let study = newUid();
  let made = 0;
  for (let a = 0; a < settings.associations; a++) {
    const dir = join(work, 'dataset', `association-${a}`);
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < per && made < settings.instances; i++) {
      if (made > 0 && made % INSTANCES_PER_STUDY === 0) study = newUid();
      made++;
      const inst = makeInstance({
        sopClassUid: CT,
        studyInstanceUid: study,
        patientId: `NODES${Math.floor(made / INSTANCES_PER_STUDY)}`,
        patientName: 'Nodes^Bench',
        instanceNumber: made,
        rows: 160,
        columns: 160,
        pixelBytes: PIXEL_BYTES,
      });
      await writeFile(join(dir, `${inst.sopInstanceUid}.dcm`), inst.part10);
    }
    dirs.push(dir);
  }
  return dirs;
}

interface Node {
  pid: number;
  dicomPort: number;
  dataDir: string;
  stop(): Promise<void>;
}

async function startNode(
  main: string,
  root: string,
  env: NodeJS.ProcessEnv,
  dataDir: string,
  logFile: string,
  timeoutMs: number,
): Promise<Node> {
  const dicomPort = await freePort();
  const httpPort = await freePort();
  const child = spawnTracked(process.execPath, [main], {
    env: {
      ...env,
      STRATA_DATA_DIR: dataDir,
      STRATA_DICOM_PORT: String(dicomPort),
      STRATA_HTTP_PORT: String(httpPort),
    },
    cwd: root,
    logFile,
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15);
      throw new Error(`a Strata node exited during start-up; log ${logFile}:\n${tail.join('\n')}`);
    }
    const up = await fetch(`http://127.0.0.1:${httpPort}/health`, {
      signal: AbortSignal.timeout(2_000),
    }).then(
      async (r) => (await r.arrayBuffer(), r.ok),
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stopChild(child, 'SIGKILL', 5_000);
      throw new Error(`a Strata node did not start within ${timeoutMs / 1000} s; log ${logFile}`);
    }
    await sleep(250);
  }
  return {
    pid: child.pid!,
    dicomPort,
    dataDir,
    stop: async () => {
      await stopChild(child, 'SIGTERM', 60_000);
    },
  };
}

async function oneRun(
  root: string,
  main: string,
  clusterUrl: string,
  work: string,
  keyFile: string,
  dirs: string[],
  nodes: 1 | 2,
  runIndex: number,
  serial: number,
  ctx: { settings: Settings; logDir: string },
): Promise<Run> {
  const { settings, logDir } = ctx;
  const result: Run = {
    nodes,
    run: runIndex,
    ok: false,
    seconds: null,
    instancesPerSecond: null,
    mbPerSecond: null,
    stored: null,
    machineBusyPercent: null,
    strataCpuPer1000: null,
    postgresCpuPer1000: null,
    otherCpuPer1000: null,
    perNode: [],
  };
  const runDir = join(work, `run-${serial}`);
  await mkdir(runDir, { recursive: true });
  const database = `strata_nodes_${serial}`;
  const admin = new pg.Client({ connectionString: clusterUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(clusterUrl);
  url.pathname = `/${database}`;
  const configFile = join(runDir, 'strata.config.yaml');
  await writeFile(
    configFile,
    `storage:
  backends:
    shared: { type: filesystem, path: '${join(runDir, 'objects')}' }
  tiers:
    hot: { backend: shared }
keys:
  privateKeyFile: '${keyFile}'
fixity: { schedule: 'off' }
lifecycle:
  schedules: { retention: 'off', tiering: 'off', purge: 'off' }
`,
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('STRATA_') && key !== 'DATABASE_URL') env[key] = value;
  }
  Object.assign(env, {
    DATABASE_URL: url.toString(),
    STRATA_CONFIG: configFile,
    STRATA_BIND_HOST: '127.0.0.1',
    STRATA_AET: 'STRATA',
    STRATA_ADMIN_TOKEN: randomBytes(16).toString('hex'),
    STRATA_KEY_PASSPHRASE: PASSPHRASE,
    STRATA_LOG_LEVEL: 'warn',
    STRATA_POLICIES_DIR: resolve(root, 'policies'),
  });
  const started: Node[] = [];
  try {
    const tag = `${nodes}node-run${runIndex}`;
    const first = await startNode(
      main,
      root,
      env,
      join(runDir, 'node-1'),
      join(logDir, `${tag}.node-1.log`),
      settings.startTimeoutMs,
    );
    started.push(first);
    if (nodes === 2) {
      // The second node of the deployment: its own data dir, the first node's dedup secret.
      const dataDir = join(runDir, 'node-2');
      await mkdir(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
      await copyFile(
        join(first.dataDir, 'keys', 'dedup.secret'),
        join(dataDir, 'keys', 'dedup.secret'),
      );
      started.push(
        await startNode(
          main,
          root,
          env,
          dataDir,
          join(logDir, `${tag}.node-2.log`),
          settings.startTimeoutMs,
        ),
      );
    }
    const pgBefore = postgresTicks();
    const strataBefore = started.map((n) => cpuTicks(n.pid) ?? 0);
    const machineBefore = machineTicks();
    const t0 = performance.now();
    const perNode = started.map(() => 0);
    const errors: string[] = [];
    await Promise.all(
      dirs.map(async (dir, a) => {
        const node = a % started.length;
        const logFile = join(logDir, `${tag}.storescu-${a}.log`);
        const child = spawnTracked(
          'storescu',
          storescuArgs('STRATA', started[node]!.dicomPort, dir),
          { env: dcmtkEnv(), logFile },
        );
        const exit = await waitExit(child, 1_800_000);
        const problems = dcmtkProblems(await readFile(logFile, 'utf8').catch(() => ''));
        if (exit.code !== 0 || problems.length > 0) {
          errors.push(`storescu ${a}: exit ${exit.code ?? exit.signal} ${problems.join(' / ')}`);
        } else {
          // Awaited first: `perNode[node] += await …` would read the sum before the await and
          // lose the count of an association that finished in between.
          const sent = (await countDcm(dir)) ?? 0;
          perNode[node]! += sent;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const machineAfter = machineTicks();
    const strataTicks = started.reduce(
      (sum, n, i) => sum + ((cpuTicks(n.pid) ?? strataBefore[i]!) - strataBefore[i]!),
      0,
    );
    let pgTicks = 0;
    for (const [pid, t] of postgresTicks()) pgTicks += t - (pgBefore.get(pid) ?? 0);
    const totalTicks = machineAfter.total - machineBefore.total;
    const busyTicks = totalTicks - (machineAfter.idle - machineBefore.idle);
    const per1000 = (ticks: number) => ticks / HZ / (settings.instances / 1000);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const [row] = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM instances'))
      .rows;
    await client.end();
    const bytes = settings.instances * (PIXEL_BYTES + 1000);
    Object.assign(result, {
      seconds,
      instancesPerSecond: settings.instances / seconds,
      mbPerSecond: bytes / 1e6 / seconds,
      stored: row?.n ?? null,
      machineBusyPercent: totalTicks > 0 ? (busyTicks / totalTicks) * 100 : null,
      strataCpuPer1000: per1000(strataTicks),
      postgresCpuPer1000: per1000(pgTicks),
      otherCpuPer1000: per1000(Math.max(0, busyTicks - strataTicks - pgTicks)),
      perNode,
    });
    if (errors.length > 0) result.error = errors.slice(0, 3).join('; ');
    else if (row?.n !== settings.instances) {
      result.error = `the catalog holds ${row?.n} of ${settings.instances} instances`;
    }
    result.ok = result.error === undefined;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  } finally {
    for (const n of started) await n.stop().catch(() => undefined);
    if (!settings.keep) await rm(runDir, { recursive: true, force: true, maxRetries: 3 });
  }
  return result;
}

async function countDcm(dir: string): Promise<number | null> {
  return (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.dcm')).length;
}

function describeRun(r: Run): string {
  const head = `${r.nodes} node(s) run ${r.run}:`;
  if (!r.ok) return `${head} FAILED after ${fmt(r.seconds, 2)} s: ${r.error ?? 'unknown'}`;
  return (
    `${head} ${fmt(r.instancesPerSecond)} inst/s (${fmt(r.seconds, 2)} s; per node ${r.perNode.join(' + ')}), ` +
    `machine CPU ${fmt(r.machineBusyPercent, 0)} % busy; CPU s per 1000 inst: Strata ` +
    `${fmt(r.strataCpuPer1000, 2)}, PostgreSQL ${fmt(r.postgresCpuPer1000, 2)}, other ${fmt(r.otherCpuPer1000, 2)}`
  );
}

/** Why a second node did or did not add throughput, read from the figures. */
function verdict(report: NodesReport): string {
  const one = report.summary.find((s) => s.nodes === 1);
  const two = report.summary.find((s) => s.nodes === 2);
  if (!one?.instancesPerSecond || !two?.instancesPerSecond)
    return 'Not enough successful runs to compare.';
  const gain = (two.instancesPerSecond / one.instancesPerSecond - 1) * 100;
  const cores = report.machine.cpuCount;
  const lines = [
    `Two nodes: ${fmt(two.instancesPerSecond)} instances/s against ${fmt(one.instancesPerSecond)} with one (${gain >= 0 ? '+' : ''}${gain.toFixed(0)} %).`,
  ];
  const busy = one.machineBusyPercent ?? 0;
  if (busy >= 85) {
    lines.push(
      `With one node the machine's ${cores} cores were already ${fmt(one.machineBusyPercent, 0)} % busy ` +
        `(Strata ${fmt(one.strataCpuPer1000, 2)} s, PostgreSQL ${fmt(one.postgresCpuPer1000, 2)} s and the ` +
        `rest, storescu and the kernel, ${fmt(one.otherCpuPer1000, 2)} s of CPU per 1000 instances): ` +
        'a second node has no idle core to use, it only splits the same CPU between two processes ' +
        '(and adds its own overhead: a second connection pool, a second event loop).',
    );
  } else {
    lines.push(
      `With one node the machine was ${fmt(one.machineBusyPercent, 0)} % busy: one node's event loop ` +
        '(single-threaded: DIMSE parsing, encryption and hashing per instance) was the bottleneck, and a ' +
        'second process can use the idle CPU.',
    );
  }
  lines.push(
    'Every node writes to the same PostgreSQL (one ingest statement and one audit append per ' +
      'instance, the audit chain serialised by its lock) and the same storage: with more cores, a ' +
      'second node adds throughput until PostgreSQL or the disk saturates; on this machine the ' +
      'clients, both nodes and PostgreSQL compete for the same cores.',
  );
  return lines.join(' ');
}

function markdown(report: NodesReport): string {
  const head = markdownHeader('Strata: one node against two nodes on one database', report);
  const s = report.settings;
  const summary = [
    '| nodes | inst/s | machine CPU busy % | Strata CPU s / 1000 inst | PostgreSQL CPU s / 1000 inst | other CPU s / 1000 inst | runs ok |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...report.summary.map(
      (x) =>
        `| ${x.nodes} | ${fmt(x.instancesPerSecond)} | ${fmt(x.machineBusyPercent, 0)} | ${fmt(x.strataCpuPer1000, 2)} | ${fmt(x.postgresCpuPer1000, 2)} | ${fmt(x.otherCpuPer1000, 2)} | ${x.ok} |`,
    ),
  ].join('\n');
  const runs = [
    '| nodes | run | result | seconds | inst/s | MB/s | per node | machine CPU % | Strata | PostgreSQL | other |',
    '| ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...report.runs.map(
      (r) =>
        `| ${r.nodes} | ${r.run} | ${r.ok ? 'ok' : `FAILED: ${(r.error ?? '').replace(/\|/g, '/')}`} | ${fmt(r.seconds, 2)} | ${fmt(r.instancesPerSecond)} | ${fmt(r.mbPerSecond)} | ${r.perNode.join(' + ')} | ${fmt(r.machineBusyPercent, 0)} | ${fmt(r.strataCpuPer1000, 2)} | ${fmt(r.postgresCpuPer1000, 2)} | ${fmt(r.otherCpuPer1000, 2)} |`,
    ),
  ].join('\n');
  return `${head}

## Setup

${s.instances} new instances (~52 kB CT, studies of ${INSTANCES_PER_STUDY}) per run, sent by ${s.associations} storescu associations at once; with two nodes, half of the associations go to each. One embedded PostgreSQL started by the benchmark (a fresh database per run, given to the nodes as DATABASE_URL: the same external-style database in both modes), the hot tier on one shared folder, one archive key file. Medians of ${s.repeat} run(s) per mode, the modes alternated. The machine's busy share counts every process on it (run on a quiet machine); "other" is that busy time less the Strata and PostgreSQL processes' own: mostly storescu (its start-up included) and the kernel's network and disk work.

${summary}

${report.error ? `**The benchmark failed: ${report.error}**\n\n` : ''}## Why

${verdict(report)}

## Runs

${runs}
`;
}

// Run alone: node dist/bench/nodes.js
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installCleanup();
  const here = dirname(fileURLToPath(import.meta.url));
  const root = existsSync(join(here, '..', '..', 'package.json'))
    ? resolve(here, '..', '..')
    : process.cwd();
  runNodesBench(root).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
