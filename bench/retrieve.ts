/**
 * Query/Retrieve benchmark (part of `npm run bench`, also alone: `node dist/bench/retrieve.js`
 * after `npm run build`). Strata and Orthanc serve the same data in the same run: each is started
 * fresh (bench/receivers.ts) knowing one dcmtk storescp (a single process, no --fork) as the C-MOVE
 * destination STORESCP, both are loaded with storescu, then they are timed in turns (the first of
 * the two alternates from run to run):
 *   - C-MOVE: movescu of one ~315 MB study (600 CT instances of 512x512) to STORESCP, whose
 *     directory is emptied before each run; MB/s = the study's bytes / movescu's wall time;
 *   - C-GET: getscu of the same study into a fresh directory; MB/s likewise;
 *   - C-FIND inside one association (findscu --repeat): a patient by Patient ID (Patient Root,
 *     PATIENT level, 1 match), the studies of that patient (Study Root, STUDY level, 1 match), and
 *     the studies of a patient who has 150 (STUDY level, 150 matches). Latency per query =
 *     (wall time of 1 + N queries - wall time of 1 query) / N: the process start, the association
 *     set-up and its release cancel out.
 * Before the timed runs, each server serves each of them once, untimed (run 0, a warm-up: Strata's
 * JIT compiler and both servers' caches; a server runs for days, not for one transfer).
 * Every dcmtk tool, storescp and Orthanc run with TCP_NODELAY=1. Written to
 * bench/results/<date>-retrieve-<git>.md|json.
 *
 *   BENCH_REPEAT=3                 runs of each measurement (medians are reported)
 *   BENCH_RETRIEVE_QUERIES=200     N: queries timed inside one association in a C-FIND run
 *   BENCH_RETRIEVE_WARMUP=1        0: no warm-up run
 *   BENCH_RUN_TIMEOUT_S=600        bound on one tool run (then recorded as failed)
 *   BENCH_START_TIMEOUT_S=180      bound on a server's start-up
 *   BENCH_TMPDIR=<os tmpdir>       where the servers' fresh directories are created
 *   BENCH_KEEP=1                   keep those directories
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dataset, type DatasetSpec, ensureDataset, patientIdOf } from './datasets.js';
import { installCleanup, positiveInt, run, spawnTracked, waitExit } from './processes.js';
import {
  CALLING_AET,
  dcmtkEnv,
  dcmtkProblems,
  ORTHANC_BINARY,
  type Receiver,
  type ReceiverKind,
  startReceiver,
} from './receivers.js';
import { describeMachine, fmt, gitState, markdownHeader, median, type Report } from './report.js';

const log = (line: string) => console.error(`[bench:retrieve] ${line}`);

export const RETRIEVE_NOTE =
  'Every dcmtk tool (storescu, movescu, getscu, findscu), the storescp destination and Orthanc ' +
  'run with TCP_NODELAY=1 (dcmtk 3.6.7 leaves Nagle on otherwise); Strata sets TCP_NODELAY itself';

/** The study retrieved: one CT study of ~315 MB. */
export const RETRIEVE_STUDY: DatasetSpec = {
  name: 'qr-study',
  description:
    '1 CT study of 600 instances of 512x512x16 bit (~525 kB each, ~315 MB), 3 series x 200',
  studies: 1,
  seriesPerStudy: 3,
  instancesPerSeries: 200,
  rows: 512,
  columns: 512,
  seed: 300,
};

/** The studies queried: 150 small studies of one patient. */
export const QUERY_STUDIES: DatasetSpec = {
  name: 'qr-150',
  description: '150 CT studies of one patient, 1 instance of 64x64x16 bit each',
  studies: 150,
  seriesPerStudy: 1,
  instancesPerSeries: 1,
  rows: 64,
  columns: 64,
  seed: 150,
  patients: 1,
};

const DESTINATION_AET = 'STORESCP';
const SERVERS = ['strata', 'orthanc'] as const;
type ServerKind = (typeof SERVERS)[number];

/** What a study list asks for (the return keys of the STUDY-level queries). */
const STUDY_RETURN_KEYS = [
  'PatientName',
  'PatientBirthDate',
  'PatientSex',
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'StudyID',
  'StudyDescription',
  'ReferringPhysicianName',
  'ModalitiesInStudy',
  'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances',
];

interface Query {
  id: 'findPatient' | 'findPatientStudies' | 'findStudies150';
  label: string;
  /** findscu's information model option. */
  model: '-P' | '-S';
  keys: string[];
  matches: number;
}

function queries(study: Dataset, studies: Dataset): Query[] {
  const bigPatient = patientIdOf(RETRIEVE_STUDY, 0);
  const manyPatient = patientIdOf(QUERY_STUDIES, 0);
  return [
    {
      id: 'findPatient',
      label: 'C-FIND a patient by Patient ID (Patient Root, PATIENT level, 1 match)',
      model: '-P',
      keys: [
        'QueryRetrieveLevel=PATIENT',
        `PatientID=${bigPatient}`,
        'PatientName',
        'PatientBirthDate',
        'PatientSex',
        'NumberOfPatientRelatedStudies',
      ],
      matches: 1,
    },
    {
      id: 'findPatientStudies',
      label: "C-FIND a patient's studies by Patient ID (Study Root, STUDY level, 1 match)",
      model: '-S',
      keys: ['QueryRetrieveLevel=STUDY', `PatientID=${bigPatient}`, ...STUDY_RETURN_KEYS],
      matches: study.studies,
    },
    {
      id: 'findStudies150',
      label: `C-FIND the ${studies.studies} studies of a patient (Study Root, STUDY level, ${studies.studies} matches)`,
      model: '-S',
      keys: ['QueryRetrieveLevel=STUDY', `PatientID=${manyPatient}`, ...STUDY_RETURN_KEYS],
      matches: studies.studies,
    },
  ];
}

interface Settings {
  root: string;
  logDir: string;
  tmpRoot: string;
  repeat: number;
  queries: number;
  warmUp: boolean;
  runTimeoutMs: number;
  startTimeoutMs: number;
  keep: boolean;
}

type Operation = 'move' | 'get' | Query['id'];

/** One timed run of one operation against one server. */
export interface RetrieveRun {
  server: ServerKind;
  operation: Operation;
  /** 1..repeat; 0 is the warm-up, left out of the figures. */
  run: number;
  ok: boolean;
  error?: string;
  /** Wall time of the tool (move, get), or of the 1 + N queries (C-FIND). */
  seconds: number | null;
  /** C-FIND only: wall time of 1 query (process, association, release). */
  oneQuerySeconds?: number | null;
  mbPerSecond?: number | null;
  msPerQuery?: number | null;
  /** Instances the destination holds afterwards (move, get). */
  received?: number | null;
  logFile: string;
}

export interface Figure {
  /** Median over the successful runs; null when none succeeded. */
  value: number | null;
  min: number | null;
  max: number | null;
  ok: number;
  runs: number;
}

export interface Target {
  what: string;
  unit: 'MB/s' | 'ms';
  strata: Figure;
  orthanc: Figure;
  /** The bound Strata's median must meet, from Orthanc's median in this run. */
  target: string;
  bound: number | null;
  pass: boolean | null;
  /** The issue's figure for Orthanc on this box, for comparison. */
  issueOrthanc: string;
}

interface ToolRun {
  ok: boolean;
  seconds: number;
  error?: string;
}

/** Runs a dcmtk tool with TCP_NODELAY=1 to its end, timed; failures from its exit or its log. */
async function timedTool(
  tool: string,
  args: string[],
  logFile: string,
  timeoutMs: number,
): Promise<ToolRun> {
  const started = performance.now();
  const child = spawnTracked(tool, args, { env: dcmtkEnv(), logFile });
  const exit = await waitExit(child, timeoutMs);
  const seconds = (performance.now() - started) / 1000;
  const problems = dcmtkProblems(await readFile(logFile, 'utf8').catch(() => ''));
  const why = problems.length > 0 ? ` (${problems.join(' / ')})` : '';
  let error: string | undefined;
  if (exit.timedOut) error = `${tool} timed out after ${timeoutMs / 1000} s`;
  else if (exit.spawnError) error = `${tool}: ${exit.spawnError}`;
  else if (exit.code !== 0) error = `${tool} exited with ${exit.code ?? exit.signal}${why}`;
  else if (problems.length > 0) error = `${tool} reported: ${problems.join(' / ')}`;
  return { ok: error === undefined, seconds, ...(error ? { error } : {}) };
}

/** Files directly in a directory (storescp and getscu write flat). */
async function fileCount(dir: string): Promise<number> {
  return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).length;
}

async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir))
    await rm(join(dir, name), { recursive: true, force: true });
}

/** Writes back dirty pages (the previous run's received files) so that runs start alike. */
async function flushDisk(): Promise<void> {
  await run('sync', [], { timeoutMs: 120_000 });
}

class RetrieveBench {
  readonly runs: RetrieveRun[] = [];

  constructor(
    private readonly settings: Settings,
    private readonly servers: Record<ServerKind, Receiver>,
    private readonly destination: Receiver,
    private readonly study: Dataset,
  ) {}

  private qr(kind: ServerKind, model: '-P' | '-S'): string[] {
    const server = this.servers[kind];
    return [model, '-aet', CALLING_AET, '-aec', server.aet, '127.0.0.1', String(server.dicomPort)];
  }

  private logFile(kind: ServerKind, what: string, runIndex: number, tool: string): string {
    return join(this.settings.logDir, `${kind}-${what}-${runIndex}.${tool}.log`);
  }

  private studyKeys(): string[] {
    return [
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${this.study.files[0]!.study}`,
    ];
  }

  private record(r: RetrieveRun): void {
    this.runs.push(r);
    const figure =
      r.mbPerSecond != null
        ? `${r.mbPerSecond.toFixed(1)} MB/s (${r.seconds!.toFixed(2)} s)`
        : r.msPerQuery != null
          ? `${r.msPerQuery.toFixed(2)} ms per query`
          : '';
    log(
      `${r.server} ${r.operation} run ${r.run}: ${r.ok ? figure : `FAILED: ${r.error ?? 'unknown error'}`}`,
    );
  }

  /** movescu of the study to STORESCP, whose directory was emptied first. */
  async move(kind: ServerKind, runIndex: number): Promise<void> {
    const storeDir = this.destination.storeDir!;
    await emptyDir(storeDir);
    await this.transferRun(kind, 'move', runIndex, ['-aem', DESTINATION_AET], async (ok) => {
      const counted = await this.destination.count(this.study.instances, ok ? 10_000 : 0);
      return counted.stored;
    });
    await emptyDir(storeDir);
  }

  /** getscu of the study into a fresh directory. */
  async get(kind: ServerKind, runIndex: number): Promise<void> {
    const dir = await mkdtemp(join(this.settings.tmpRoot, `strata-bench-getscu-${kind}-`));
    try {
      await this.transferRun(kind, 'get', runIndex, ['-od', dir], () => fileCount(dir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** One timed movescu or getscu of the study; `received`: what the destination holds after. */
  private async transferRun(
    kind: ServerKind,
    operation: 'move' | 'get',
    runIndex: number,
    args: string[],
    received: (ok: boolean) => Promise<number>,
  ): Promise<void> {
    await flushDisk();
    const tool = operation === 'move' ? 'movescu' : 'getscu';
    const logFile = this.logFile(kind, operation, runIndex, tool);
    const result = await timedTool(
      tool,
      [...this.qr(kind, '-S'), ...args, ...this.studyKeys()],
      logFile,
      this.settings.runTimeoutMs,
    );
    const held = await received(result.ok);
    this.record(this.transfer(kind, operation, runIndex, result, held, logFile));
  }

  private transfer(
    kind: ServerKind,
    operation: 'move' | 'get',
    runIndex: number,
    tool: ToolRun,
    received: number,
    logFile: string,
  ): RetrieveRun {
    let error = tool.error;
    if (error === undefined && received !== this.study.instances) {
      error = `the destination holds ${received} of ${this.study.instances} instances`;
    }
    const ok = error === undefined;
    return {
      server: kind,
      operation,
      run: runIndex,
      ok,
      ...(error ? { error } : {}),
      seconds: tool.seconds,
      mbPerSecond: ok ? this.study.bytes / 1e6 / tool.seconds : null,
      received,
      logFile,
    };
  }

  /** The responses of one query, extracted to files (findscu -X): how many matches came back. */
  async checkMatches(kind: ServerKind, query: Query): Promise<string | null> {
    const dir = await mkdtemp(join(this.settings.tmpRoot, `strata-bench-findscu-${kind}-`));
    try {
      const logFile = this.logFile(kind, `${query.id}-check`, 0, 'findscu');
      const keys = query.keys.flatMap((k) => ['-k', k]);
      const tool = await timedTool(
        'findscu',
        [...this.qr(kind, query.model), '-X', '-od', dir, ...keys],
        logFile,
        this.settings.runTimeoutMs,
      );
      if (!tool.ok) return tool.error ?? 'findscu failed';
      const n = await fileCount(dir);
      return n === query.matches ? null : `${n} responses instead of ${query.matches}`;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** 1 query, then 1 + N queries, each inside one association (findscu --repeat). */
  async find(kind: ServerKind, query: Query, runIndex: number, refused: string | null) {
    const n = this.settings.queries;
    const keys = query.keys.flatMap((k) => ['-k', k]);
    const timed = (count: number, tag: string) =>
      timedTool(
        'findscu',
        [...this.qr(kind, query.model), '-sr', '--repeat', String(count), ...keys],
        this.logFile(kind, `${query.id}-${tag}`, runIndex, 'findscu'),
        this.settings.runTimeoutMs,
      );
    const one = await timed(1, 'x1');
    const many = one.ok ? await timed(1 + n, `x${1 + n}`) : null;
    const error = refused ?? one.error ?? many?.error;
    const ok = error === undefined && many !== null;
    this.record({
      server: kind,
      operation: query.id,
      run: runIndex,
      ok,
      ...(error ? { error } : {}),
      seconds: many?.seconds ?? null,
      oneQuerySeconds: one.seconds,
      msPerQuery: ok ? ((many.seconds - one.seconds) * 1000) / n : null,
      logFile: this.logFile(kind, `${query.id}-x${1 + n}`, runIndex, 'findscu'),
    });
  }
}

function figure(runs: RetrieveRun[], pick: (r: RetrieveRun) => number | null | undefined): Figure {
  const values = runs
    .filter((r) => r.ok && r.run > 0)
    .map(pick)
    .filter((v): v is number => typeof v === 'number');
  return {
    value: median(values),
    min: values.length ? Math.min(...values) : null,
    max: values.length ? Math.max(...values) : null,
    ok: values.length,
    runs: runs.filter((r) => r.run > 0).length,
  };
}

function targets(runs: RetrieveRun[], qs: Query[], study: Dataset): Target[] {
  const of = (server: ServerKind, operation: Operation) =>
    runs.filter((r) => r.server === server && r.operation === operation);
  const rate = (operation: 'move' | 'get', what: string): Target => {
    const strata = figure(of('strata', operation), (r) => r.mbPerSecond);
    const orthanc = figure(of('orthanc', operation), (r) => r.mbPerSecond);
    const bound = orthanc.value;
    return {
      what,
      unit: 'MB/s',
      strata,
      orthanc,
      target: "≥ Orthanc's",
      bound,
      pass: strata.value === null || bound === null ? null : strata.value >= bound,
      issueOrthanc: '≈ 250 MB/s',
    };
  };
  const mb = (study.bytes / 1e6).toFixed(0);
  const out = [
    rate('move', `C-MOVE of the ${mb} MB study to storescp (movescu), MB/s`),
    rate('get', `C-GET of the ${mb} MB study (getscu), MB/s`),
  ];
  for (const q of qs) {
    const strata = figure(of('strata', q.id), (r) => r.msPerQuery);
    const orthanc = figure(of('orthanc', q.id), (r) => r.msPerQuery);
    const many = q.id === 'findStudies150';
    const bound = orthanc.value === null ? null : many ? orthanc.value / 5 : orthanc.value;
    out.push({
      what: `${q.label}, ms per query`,
      unit: 'ms',
      strata,
      orthanc,
      target: many ? "≤ Orthanc's / 5" : "≤ Orthanc's",
      bound,
      pass: strata.value === null || bound === null ? null : strata.value <= bound,
      issueOrthanc: many ? '≈ 70 ms' : '≈ 4 ms',
    });
  }
  return out;
}

function cell(f: Figure, digits: number): string {
  if (f.value === null) return `FAILED (${f.ok}/${f.runs})`;
  const range = f.ok > 1 ? ` (${fmt(f.min, digits)}–${fmt(f.max, digits)})` : '';
  return `${fmt(f.value, digits)}${range}`;
}

export interface RetrieveReport extends Pick<
  Report,
  'date' | 'git' | 'note' | 'machine' | 'settings'
> {
  datasets: { name: string; description: string; instances: number; bytes: number }[];
  load: { server: ServerKind; seconds: number; instances: number; stored: number }[];
  queries: Query[];
  targets: Target[];
  runs: RetrieveRun[];
}

function markdown(report: RetrieveReport): string {
  const n = String(report.settings.queries);
  const rows = report.targets.map((t) => {
    const digits = t.unit === 'ms' ? 2 : 1;
    const verdict = t.pass === null ? 'n/a (failed runs)' : t.pass ? 'pass' : '**FAIL**';
    const bound = t.bound === null ? '' : ` (${fmt(t.bound, digits)})`;
    return `| ${t.what} | ${cell(t.strata, digits)} | ${cell(t.orthanc, digits)} | ${t.target}${bound} | ${verdict} | ${t.issueOrthanc} |`;
  });
  const runRows = report.runs.map(
    (r) =>
      `| ${r.server} | ${r.operation} | ${r.run === 0 ? '0 (warm-up)' : r.run} | ${r.ok ? 'ok' : 'FAILED'} | ${fmt(r.seconds, 3)} | ${fmt(r.oneQuerySeconds, 3)} | ${fmt(r.mbPerSecond)} | ${fmt(r.msPerQuery, 2)} | ${r.received ?? ''} | ${(r.error ?? '').replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 160)} |`,
  );
  const load = report.load
    .map((l) => `${l.server} ${l.seconds.toFixed(1)} s (${l.stored}/${l.instances} stored)`)
    .join(', ');
  return `${markdownHeader('Strata query/retrieve benchmark', report)}

## Results (medians of ${String(report.settings.repeat)} runs, min–max in brackets; Strata and Orthanc in turns in the same run, serving the same data${report.settings.warmUp ? ', after one untimed warm-up run of each' : ', no warm-up run'})

| measurement | Strata | Orthanc | target (bound) | result | the issue's Orthanc |
| --- | ---: | ---: | --- | --- | --- |
${rows.join('\n')}

- MB/s = the study's Part 10 bytes (10^6 bytes) / the wall time of movescu or getscu (process start to exit: association, C-MOVE or C-GET, every C-STORE sub-operation, release). The C-MOVE destination is one dcmtk \`storescp -aet ${DESTINATION_AET} -od <dir>\` process (no --fork), writing plain files, emptied before each run; getscu writes into a fresh directory. Every run is checked: the tool exited 0 with no error in its log, and the destination holds all ${report.datasets[0]?.instances ?? '?'} instances. \`sync\` runs before each transfer (not timed). Both receiving dcmtk tools keep their default maximum PDU (16 KiB), so both servers send 16 KiB P-DATA fragments.
- ms per query = (wall time of \`findscu --repeat ${Number(n) + 1}\` - wall time of \`findscu --repeat 1\`) / ${n}: ${n} C-FIND exchanges on one association, each to its final response; the process start, the association set-up and the release cancel out. findscu runs with \`-sr\` (it prints no response). Before timing, one query of each kind is run with \`-X\` and its responses are counted on both servers.
- Strata as shipped (every object encrypted, embedded PostgreSQL, each C-FIND audited before it is answered), \`STRATA_LOG_LEVEL=warn\`, the config file declaring only the peer ${DESTINATION_AET}. Orthanc 1.10 with its default SQLite index and filesystem storage, default \`StorageAccessOnFind\` ("Always"), the calling AE \`${CALLING_AET}\` allowed to find, move and get, ${DESTINATION_AET} a known modality. Both loaded first with one storescu each per dataset (${load}).
- The order of the two servers alternates from run to run.${report.settings.warmUp ? " Run 0 (each transfer and each query kind once, in the table below) is a warm-up left out of the figures: a fresh Node process runs its code unoptimised at first (Strata's first C-MOVE is the slowest), while a server runs for days." : ''}
- Return keys of the STUDY-level queries: ${STUDY_RETURN_KEYS.join(', ')}. PATIENT level: PatientName, PatientBirthDate, PatientSex, NumberOfPatientRelatedStudies.

## Data

${report.datasets.map((d) => `- **${d.name}**: ${d.instances} instances, ${(d.bytes / 1e6).toFixed(1)} MB (${d.description})`).join('\n')}

## Every run

| server | operation | run | result | seconds | 1 query s | MB/s | ms/query | received | error |
| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |
${runRows.join('\n')}

Settings: \`${JSON.stringify(report.settings)}\`
`;
}

async function loadInto(
  kind: ServerKind,
  server: Receiver,
  datasets: Dataset[],
  settings: Settings,
): Promise<RetrieveReport['load'][number]> {
  const started = performance.now();
  for (const dataset of datasets) {
    const tool = await timedTool(
      'storescu',
      [
        '-aet',
        CALLING_AET,
        '-aec',
        server.aet,
        '+sd',
        '+r',
        '+sp',
        '*.dcm',
        '127.0.0.1',
        String(server.dicomPort),
        dataset.dir,
      ],
      join(settings.logDir, `${kind}-load-${dataset.name}.storescu.log`),
      settings.runTimeoutMs,
    );
    if (!tool.ok) throw new Error(`loading ${dataset.name} into ${kind}: ${tool.error}`);
  }
  const instances = datasets.reduce((n, d) => n + d.instances, 0);
  const seconds = (performance.now() - started) / 1000;
  const { stored } = await server.count(instances, 10_000);
  if (stored !== instances) {
    throw new Error(`${kind} holds ${stored} of the ${instances} instances sent`);
  }
  return { server: kind, seconds, instances, stored };
}

function settingsFromEnv(root: string, stamp: string): Settings {
  return {
    root,
    logDir: join(root, 'bench', '.work', 'logs', `${stamp}-retrieve`),
    tmpRoot: process.env.BENCH_TMPDIR?.trim() || tmpdir(),
    repeat: positiveInt('BENCH_REPEAT', 3),
    queries: positiveInt('BENCH_RETRIEVE_QUERIES', 200),
    warmUp: process.env.BENCH_RETRIEVE_WARMUP?.trim() !== '0',
    runTimeoutMs: positiveInt('BENCH_RUN_TIMEOUT_S', 600) * 1000,
    startTimeoutMs: positiveInt('BENCH_START_TIMEOUT_S', 180) * 1000,
    keep: process.env.BENCH_KEEP === '1',
  };
}

export async function runRetrieveBench(root: string): Promise<{ md: string; json: string }> {
  const stamp = new Date()
    .toISOString()
    .replace(/:/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const settings = settingsFromEnv(root, stamp);
  await mkdir(settings.logDir, { recursive: true });
  log(`${RETRIEVE_NOTE}; logs in ${settings.logDir}`);
  if (!existsSync(ORTHANC_BINARY)) throw new Error(`${ORTHANC_BINARY} not found`);
  const datasetRoot = join(root, 'bench', '.work', 'datasets');
  const study = await ensureDataset(RETRIEVE_STUDY, datasetRoot, log);
  const studies = await ensureDataset(QUERY_STUDIES, datasetRoot, log);
  const start = (kind: ReceiverKind, peers?: Record<string, { host: string; port: number }>) =>
    startReceiver(kind, {
      root,
      tmpRoot: settings.tmpRoot,
      startTimeoutMs: settings.startTimeoutMs,
      keep: settings.keep,
      logFile: join(settings.logDir, `${kind}.log`),
      ...(peers ? { peers } : {}),
    });

  const started: Receiver[] = [];
  try {
    const destination = await start('storescp');
    started.push(destination);
    const peers = { [DESTINATION_AET]: { host: '127.0.0.1', port: destination.dicomPort } };
    const servers = {} as Record<ServerKind, Receiver>;
    for (const kind of SERVERS) {
      servers[kind] = await start(kind, peers);
      started.push(servers[kind]);
    }
    const load: RetrieveReport['load'] = [];
    for (const kind of SERVERS) {
      load.push(await loadInto(kind, servers[kind], [study, studies], settings));
      log(
        `${kind}: loaded ${load.at(-1)!.instances} instances in ${load.at(-1)!.seconds.toFixed(1)} s`,
      );
    }

    const bench = new RetrieveBench(settings, servers, destination, study);
    const qs = queries(study, studies);
    const refused = new Map<string, string | null>();
    for (const kind of SERVERS) {
      for (const q of qs) refused.set(`${kind}/${q.id}`, await bench.checkMatches(kind, q));
    }
    if (settings.warmUp) {
      for (const kind of SERVERS) {
        await bench.move(kind, 0);
        await bench.get(kind, 0);
        for (const q of qs) await bench.find(kind, q, 0, refused.get(`${kind}/${q.id}`)!);
      }
    }
    for (let r = 1; r <= settings.repeat; r++) {
      const order: ServerKind[] = r % 2 === 1 ? ['strata', 'orthanc'] : ['orthanc', 'strata'];
      for (const kind of order) await bench.move(kind, r);
      for (const kind of order) await bench.get(kind, r);
      for (const q of qs) {
        for (const kind of order) await bench.find(kind, q, r, refused.get(`${kind}/${q.id}`)!);
      }
    }
    for (const [kind, server] of Object.entries(servers)) {
      const exited = server.exitedEarly();
      if (exited !== null) throw new Error(`${kind} ${exited} during the benchmark`);
    }

    const date = new Date().toISOString();
    const report: RetrieveReport = {
      date,
      git: await gitState(root),
      note: RETRIEVE_NOTE,
      machine: await describeMachine(),
      settings: {
        repeat: settings.repeat,
        queries: settings.queries,
        warmUp: settings.warmUp,
        runTimeoutS: settings.runTimeoutMs / 1000,
        callingAet: CALLING_AET,
        destination: DESTINATION_AET,
      },
      datasets: [study, studies].map((d) => ({
        name: d.name,
        description: d.description,
        instances: d.instances,
        bytes: d.bytes,
      })),
      load,
      queries: qs,
      targets: targets(bench.runs, qs, study),
      runs: bench.runs,
    };
    const dir = join(root, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const base = join(
      dir,
      `${date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z')}-retrieve-${report.git.label}`,
    );
    const md = markdown(report);
    await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(`${base}.md`, md);
    console.log(md);
    if (report.runs.some((r) => !r.ok && r.run > 0)) process.exitCode = 1;
    return { md: `${base}.md`, json: `${base}.json` };
  } finally {
    for (const receiver of started.reverse()) {
      await receiver.stop().catch((e: unknown) => log(`stopping ${receiver.kind}: ${String(e)}`));
    }
  }
}

const isMain = resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
if (isMain) {
  installCleanup();
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  runRetrieveBench(root).catch((error: unknown) => {
    console.error(`[bench:retrieve] ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 1;
  });
}
