/**
 * The receivers under test, each started fresh (new storage / data dir, OS-picked loopback ports)
 * for every measurement: Strata, dcmtk storescp (the box's DIMSE ceiling) and Orthanc.
 */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import {
  freePort,
  procStatus,
  run,
  sleep,
  spawnTracked,
  stopChild,
  trackScratchDir,
  untrackScratchDir,
  type TreeMemory,
  TreeSampler,
} from './processes.js';

export type ReceiverKind = 'strata' | 'strata-noaudit' | 'storescp' | 'orthanc';
export const RECEIVER_KINDS: readonly ReceiverKind[] = [
  'strata',
  'strata-noaudit',
  'storescp',
  'orthanc',
];

export const CALLING_AET = 'BENCH';
export const ORTHANC_BINARY = '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** storescu's arguments for sending every *.dcm file under `dir` over one association. */
export function storescuArgs(calledAet: string, port: number, dir: string): string[] {
  return [
    '-aet',
    CALLING_AET,
    '-aec',
    calledAet,
    '+sd',
    '+r',
    '+sp',
    '*.dcm',
    '127.0.0.1',
    String(port),
    dir,
  ];
}

/** Environment for dcmtk tools and Orthanc (dcmtk reads TCP_NODELAY; 3.6.7 leaves Nagle on otherwise). */
export function dcmtkEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1' };
}

/** dcmtk tools report some failures only in their log (exit status 0): look for them too. */
export function dcmtkProblems(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^[EF]: |Store Failed|Status: (Refused|Error)/.test(l))
    .slice(0, 5);
}

export interface ReceiverMemory {
  /** VmHWM of the receiver's main process, in bytes. */
  peakRssBytes: number | null;
  /** Strata only: its embedded PostgreSQL processes. */
  postgres?: TreeMemory;
}

export interface StowTarget {
  url: string;
  headers: Record<string, string>;
}

export interface Receiver {
  kind: ReceiverKind;
  aet: string;
  dicomPort: number;
  pid: number;
  dir: string;
  logFile: string;
  startSeconds: number;
  stow?: StowTarget;
  /** storescp only: the directory it writes the objects it receives to. */
  storeDir?: string;
  /** How many instances the receiver holds; polls up to `settleMs` for `expected`. */
  count(expected: number, settleMs: number): Promise<{ stored: number; method: string }>;
  memory(): ReceiverMemory;
  /** Set if the receiver's process has already exited (it was not stopped by us yet). */
  exitedEarly(): string | null;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Project root (holds dist/src/main.js). */
  root: string;
  tmpRoot: string;
  startTimeoutMs: number;
  keep: boolean;
  /** Where the receiver's stdout and stderr go (kept after the run). */
  logFile: string;
  /** Orthanc only: load the DICOMweb plugin (for STOW-RS). */
  dicomweb?: boolean;
  /**
   * Strata and Orthanc: known peers by AE title (C-MOVE destinations); with it, Orthanc also lets
   * CALLING_AET query and retrieve (C-FIND, C-MOVE, C-GET), as Strata does anyone.
   */
  peers?: Record<string, { host: string; port: number }>;
}

async function tail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function echo(aet: string, port: number): Promise<boolean> {
  const result = await run(
    'echoscu',
    [
      '-aet',
      CALLING_AET,
      '-aec',
      aet,
      '-to',
      '2',
      '-ta',
      '5',
      '-ts',
      '5',
      '127.0.0.1',
      String(port),
    ],
    { env: dcmtkEnv(), timeoutMs: 10_000 },
  );
  return result.ok;
}

async function httpUp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Waits until C-ECHO (and, if given, an HTTP request) succeeds; fails fast if the child exits. */
async function waitReady(
  child: ChildProcess,
  name: string,
  aet: string,
  port: number,
  logFile: string,
  timeoutMs: number,
  httpUrl?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let echoed = false;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); ` +
          `log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    if (!echoed) echoed = await echo(aet, port);
    if (echoed && (httpUrl === undefined || (await httpUp(httpUrl)))) return;
    await sleep(250);
  }
  throw new Error(
    `${name} did not answer C-ECHO${httpUrl ? ' and HTTP' : ''} within ${timeoutMs / 1000} s; ` +
      `log ${logFile}:\n${await tail(logFile)}`,
  );
}

async function countFiles(
  dir: string,
  skip: (name: string) => boolean = () => false,
): Promise<number> {
  let n = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (skip(entry.name)) continue;
    if (entry.isDirectory()) n += await countFiles(join(dir, entry.name), skip);
    else if (entry.isFile()) n += 1;
  }
  return n;
}

async function pollCount(
  expected: number,
  settleMs: number,
  probe: () => Promise<number>,
): Promise<number> {
  const deadline = Date.now() + settleMs;
  let stored = await probe();
  while (stored < expected && Date.now() < deadline) {
    await sleep(500);
    stored = await probe();
  }
  return stored;
}

function exitState(child: ChildProcess): string | null {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
  if (child.signalCode !== null) return `killed by ${child.signalCode}`;
  return null;
}

function vmHwmBytes(pid: number): number | null {
  const status = procStatus(pid);
  return status ? status.vmHwmKiB * 1024 : null;
}

async function makeDir(options: StartOptions, prefix: string): Promise<string> {
  await mkdir(options.tmpRoot, { recursive: true });
  const dir = await mkdtemp(join(options.tmpRoot, prefix));
  // Strata's embedded PostgreSQL runs as the unprivileged 'postgres' user when we are root:
  // it must be able to traverse every ancestor of its cluster directory.
  await chmod(dir, 0o755);
  if (!options.keep) trackScratchDir(dir);
  return dir;
}

async function cleanup(dir: string, keep: boolean): Promise<void> {
  if (keep) return;
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  untrackScratchDir(dir);
}

async function startStorescp(options: StartOptions): Promise<Receiver> {
  const dir = await makeDir(options, 'storescp-');
  const storeDir = join(dir, 'store');
  await mkdir(storeDir);
  const logFile = options.logFile;
  const port = await freePort();
  const aet = 'STORESCP';
  const started = performance.now();
  const child = spawnTracked('storescp', ['-aet', aet, '-od', storeDir, String(port)], {
    env: dcmtkEnv(),
    logFile,
  });
  try {
    await waitReady(child, 'storescp', aet, port, logFile, options.startTimeoutMs);
  } catch (error) {
    await stopChild(child, 'SIGKILL', 5_000);
    await cleanup(dir, options.keep);
    throw error;
  }
  return {
    kind: 'storescp',
    aet,
    dicomPort: port,
    pid: child.pid!,
    dir,
    logFile,
    startSeconds: (performance.now() - started) / 1000,
    storeDir,
    count: async (expected, settleMs) => ({
      stored: await pollCount(expected, settleMs, () => countFiles(storeDir)),
      method: 'files written by storescp',
    }),
    memory: () => ({ peakRssBytes: vmHwmBytes(child.pid!) }),
    exitedEarly: () => exitState(child),
    stop: async () => {
      await stopChild(child, 'SIGTERM', 10_000);
      await cleanup(dir, options.keep);
    },
  };
}

async function startOrthanc(options: StartOptions): Promise<Receiver> {
  const dir = await makeDir(options, 'orthanc-');
  const logFile = options.logFile;
  const dicomPort = await freePort();
  const httpPort = await freePort();
  const aet = 'ORTHANC';
  const plugins = options.dicomweb ? [ORTHANC_DICOMWEB_PLUGIN] : [];
  const config = {
    Name: 'strata-bench',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    Plugins: plugins,
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: aet,
    DicomCheckCalledAet: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    // Orthanc 1.10 has no bind-address option: RemoteAccessAllowed=false keeps its HTTP server to
    // loopback clients, and these keep its DICOM server to our storescu / echoscu on 127.0.0.1.
    DicomAlwaysAllowEcho: false,
    DicomAlwaysAllowStore: false,
    DicomCheckModalityHost: true,
    DicomModalities: {
      bench: {
        AET: CALLING_AET,
        Host: '127.0.0.1',
        Port: 104,
        AllowEcho: true,
        AllowStore: true,
        ...(options.peers ? { AllowFind: true, AllowMove: true, AllowGet: true } : {}),
      },
      ...Object.fromEntries(
        Object.entries(options.peers ?? {}).map(([ae, p]) => [
          ae,
          { AET: ae, Host: p.host, Port: p.port, AllowEcho: true, AllowStore: true },
        ]),
      ),
    },
    ...(options.dicomweb ? { DicomWeb: { Enable: true, Root: '/dicom-web/' } } : {}),
  };
  const configFile = join(dir, 'orthanc.json');
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const http = `http://127.0.0.1:${httpPort}`;
  const started = performance.now();
  const child = spawnTracked(ORTHANC_BINARY, [configFile], { env: dcmtkEnv(), logFile });
  try {
    await waitReady(
      child,
      'Orthanc',
      aet,
      dicomPort,
      logFile,
      options.startTimeoutMs,
      `${http}/system`,
    );
  } catch (error) {
    await stopChild(child, 'SIGKILL', 5_000);
    await cleanup(dir, options.keep);
    throw error;
  }
  const statistics = async (): Promise<number> => {
    const response = await fetch(`${http}/statistics`, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`GET /statistics: HTTP ${response.status}`);
    const body = (await response.json()) as { CountInstances?: number };
    return Number(body.CountInstances ?? 0);
  };
  return {
    kind: 'orthanc',
    aet,
    dicomPort,
    pid: child.pid!,
    dir,
    logFile,
    startSeconds: (performance.now() - started) / 1000,
    stow: options.dicomweb
      ? { url: `${http}/dicom-web/studies`, headers: { Accept: 'application/dicom+json' } }
      : undefined,
    count: async (expected, settleMs) => ({
      stored: await pollCount(expected, settleMs, statistics),
      method: 'Orthanc GET /statistics CountInstances',
    }),
    memory: () => ({ peakRssBytes: vmHwmBytes(child.pid!) }),
    exitedEarly: () => exitState(child),
    stop: async () => {
      await stopChild(child, 'SIGTERM', 30_000);
      await cleanup(dir, options.keep);
    },
  };
}

/** Environment for Strata: ours minus any STRATA_* / DATABASE_URL inherited from the shell. */
function strataEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('STRATA_') || key === 'DATABASE_URL') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * What auditing costs ingest, measured rather than estimated: the archive has no switch that turns
 * auditing off (it must not), so this bench-only receiver is Strata whose own throwaway database
 * has strata_audit_append replaced by a no-op once it has started. Every audit row's SQL work (the
 * chain lock, the hash, the insert and its indexes) is gone; the canonical encoding in Node stays.
 */
async function disableAuditAppends(dataDir: string): Promise<void> {
  const password = (await readFile(join(dataDir, 'pg.secret'), 'utf8')).trim();
  const port = Number(
    (await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3],
  );
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'strata',
    password,
    database: 'strata',
  });
  await client.connect();
  try {
    await client.query(`
      CREATE OR REPLACE FUNCTION strata_audit_append(
          p_at timestamptz, p_actor text, p_actor_host text, p_role text, p_action text, p_outcome text,
          p_patient_id text, p_study_instance_uid text, p_instances integer, p_detail jsonb, p_canonical text)
        RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$`);
  } finally {
    await client.end();
  }
}

async function startStrata(options: StartOptions, auditOff = false): Promise<Receiver> {
  const main = join(options.root, 'dist', 'src', 'main.js');
  if (!existsSync(main))
    throw new Error(`${main} does not exist: build Strata first (npm run build)`);
  const dir = await makeDir(options, 'strata-');
  const dataDir = join(dir, 'data');
  const logFile = options.logFile;
  const dicomPort = await freePort();
  const httpPort = await freePort();
  const aet = 'STRATA';
  const token = randomBytes(16).toString('hex'); // 32 characters
  const http = `http://127.0.0.1:${httpPort}`;
  let config: Record<string, string> = {};
  if (options.peers) {
    const file = join(dir, 'strata.yaml');
    const peers = Object.entries(options.peers).map(
      ([ae, p]) => `    ${ae}: { host: '${p.host}', port: ${p.port} }`,
    );
    await writeFile(file, `dicom:\n  peers:\n${peers.join('\n')}\n`);
    config = { STRATA_CONFIG: file };
  }
  const env = strataEnv({
    ...config,
    STRATA_DATA_DIR: dataDir,
    STRATA_DICOM_PORT: String(dicomPort),
    STRATA_HTTP_PORT: String(httpPort),
    STRATA_BIND_HOST: '127.0.0.1',
    STRATA_AET: aet,
    STRATA_ADMIN_TOKEN: token,
    STRATA_KEY_PASSPHRASE: randomBytes(18).toString('base64url'),
    STRATA_LOG_LEVEL: 'warn',
  });
  const started = performance.now();
  const child = spawnTracked(process.execPath, [main], { env, cwd: options.root, logFile });
  try {
    await waitReady(
      child,
      'Strata',
      aet,
      dicomPort,
      logFile,
      options.startTimeoutMs,
      `${http}/health`,
    );
  } catch (error) {
    await stopChild(child, 'SIGKILL', 5_000);
    await cleanup(dir, options.keep);
    throw error;
  }
  const startSeconds = (performance.now() - started) / 1000;
  if (auditOff) {
    try {
      await disableAuditAppends(dataDir);
    } catch (error) {
      await stopChild(child, 'SIGKILL', 5_000);
      await cleanup(dir, options.keep);
      throw error;
    }
  }
  const postgres = new TreeSampler(child.pid!, (comm) => comm === 'postgres');
  postgres.start();
  let postgresMemory: TreeMemory | undefined;
  const auth = { Authorization: `Bearer ${token}` };

  /** Instances per QIDO (sum of NumberOfStudyRelatedInstances), or null when QIDO is unavailable. */
  const qido = async (): Promise<number | null> => {
    let response: Response;
    try {
      response = await fetch(`${http}/dicomweb/studies?limit=1000&includefield=00201208`, {
        headers: { ...auth, Accept: 'application/dicom+json' },
        signal: AbortSignal.timeout(30_000),
      });
    } catch {
      return null;
    }
    if (response.status === 204) return 0;
    if (!response.ok) {
      await response.arrayBuffer().catch(() => undefined);
      return null;
    }
    const studies = (await response.json().catch(() => null)) as unknown;
    if (!Array.isArray(studies)) return null;
    let sum = 0;
    for (const study of studies as Record<string, { Value?: unknown[] } | undefined>[]) {
      const value = study['00201208']?.Value?.[0];
      if (value === undefined) return null; // not reported: count another way
      sum += Number(value);
    }
    return sum;
  };
  const objectsDir = join(dataDir, 'objects');
  const filesInObjects = () => countFiles(objectsDir, (name) => name.startsWith('.'));

  return {
    kind: auditOff ? 'strata-noaudit' : 'strata',
    aet,
    dicomPort,
    pid: child.pid!,
    dir,
    logFile,
    startSeconds,
    stow: {
      url: `${http}/dicomweb/studies`,
      headers: { ...auth, Accept: 'application/dicom+json' },
    },
    count: async (expected, settleMs) => {
      if ((await qido()) !== null) {
        const stored = await pollCount(expected, settleMs, async () => (await qido()) ?? 0);
        return {
          stored,
          method: 'QIDO-RS /dicomweb/studies: sum of NumberOfStudyRelatedInstances',
        };
      }
      const stored = await pollCount(expected, settleMs, filesInObjects);
      return { stored, method: 'files under <data dir>/objects (QIDO-RS unavailable)' };
    },
    exitedEarly: () => exitState(child),
    memory: () => {
      postgresMemory ??= postgres.finish();
      return { peakRssBytes: vmHwmBytes(child.pid!), postgres: postgresMemory };
    },
    stop: async () => {
      postgresMemory ??= postgres.finish();
      const { graceful } = await stopChild(child, 'SIGTERM', 60_000);
      if (!graceful) console.error('[bench] Strata did not stop within 60 s of SIGTERM: killed');
      await cleanup(dir, options.keep);
    },
  };
}

export function startReceiver(kind: ReceiverKind, options: StartOptions): Promise<Receiver> {
  switch (kind) {
    case 'strata':
      return startStrata(options);
    case 'strata-noaudit':
      return startStrata(options, true);
    case 'storescp':
      return startStorescp(options);
    case 'orthanc':
      return startOrthanc(options);
  }
}
