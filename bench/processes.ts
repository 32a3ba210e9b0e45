/**
 * Child processes for the benchmark: every child is spawned in its own process group and tracked,
 * so that it (and anything it forked, e.g. Strata's embedded PostgreSQL) is killed when the
 * benchmark exits, is interrupted or fails.
 */
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

const tracked = new Set<ChildProcess>();

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Signals the process group led by `pid` (our children are group leaders: spawned detached). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is empty: every member has exited
  }
}

const scratchDirs = new Set<string>();

/** Registers a directory to delete if the benchmark is interrupted before it cleans up itself. */
export function trackScratchDir(dir: string): void {
  scratchDirs.add(dir);
}

export function untrackScratchDir(dir: string): void {
  scratchDirs.delete(dir);
}

/**
 * Kills every tracked child's process group and deletes the registered scratch directories
 * (synchronous: safe in an 'exit' handler).
 */
export function killAllChildren(): void {
  for (const child of tracked) {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  }
  tracked.clear();
  for (const dir of scratchDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }
  scratchDirs.clear();
}

let cleanupInstalled = false;

/** Kills all children on exit, Ctrl-C, SIGTERM and uncaught errors. */
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildren);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      console.error(`\n[bench] ${signal}: killing child processes`);
      killAllChildren();
      process.exit(code);
    });
  }
  process.on('uncaughtException', (error) => {
    console.error('[bench] uncaught exception:', error);
    killAllChildren();
    process.exit(1);
  });
  process.on('unhandledRejection', (error) => {
    console.error('[bench] unhandled rejection:', error);
    killAllChildren();
    process.exit(1);
  });
}

/** Spawns a tracked child in its own process group, its stdout and stderr going to `logFile`. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string },
): ChildProcess {
  const fd = openSync(options.logFile, 'a');
  const spawnOptions: SpawnOptions = {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
  };
  let child: ChildProcess;
  try {
    child = spawn(command, args, spawnOptions);
  } finally {
    closeSync(fd);
  }
  tracked.add(child);
  child.once('exit', () => {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL'); // orphans of the group, if any
    tracked.delete(child);
  });
  child.once('error', () => tracked.delete(child));
  return child;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError?: string;
}

/** Waits for the child to exit; after `timeoutMs` kills its group and reports a timeout. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<ExitResult> {
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const finish = (result: ExitResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    if (!isRunning(child)) {
      finish({ code: child.exitCode, signal: child.signalCode, timedOut });
      return;
    }
    child.once('exit', (code, signal) => finish({ code, signal, timedOut }));
    child.once('error', (error) =>
      finish({ code: null, signal: null, timedOut, spawnError: error.message }),
    );
  });
}

/** Sends `signal` to the child, waits up to `graceMs`, then kills its whole process group. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<{ graceful: boolean }> {
  if (child.pid === undefined || !isRunning(child)) return { graceful: true };
  child.kill(signal);
  const result = await waitExit(child, graceMs);
  if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  return { graceful: !result.timedOut };
}

const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1 chosen by the OS (never the same one twice in this process). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const p = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port');
}

/** Runs a command to completion with a timeout; never throws. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ ok: boolean; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code =
          error && typeof (error as { code?: unknown }).code === 'number'
            ? ((error as { code: number }).code ?? null)
            : error
              ? null
              : 0;
        resolve({ ok: !error, code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** A positive integer from the environment variable `name`, or `fallback` when it is unset. */
export function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a positive integer, got '${raw}'`);
  }
  return n;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Fields of /proc/<pid>/status in KiB (VmHWM, VmRSS), or null if the process is gone. */
export function procStatus(pid: number): { vmHwmKiB: number; vmRssKiB: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { vmHwmKiB: field('VmHWM'), vmRssKiB: field('VmRSS') };
  } catch {
    return null;
  }
}

/** Proportional set size (KiB) from /proc/<pid>/smaps_rollup: shared pages split between sharers. */
export function procPssKiB(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+) kB/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function procComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** All live descendants of `root` (from /proc/<pid>/stat), with their command names. */
export function descendants(root: number): { pid: number; comm: string }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // raced with an exit
    }
  }
  const out: { pid: number; comm: string }[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const comm = procComm(pid);
    if (comm !== null) out.push({ pid, comm });
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface TreeMemory {
  processes: number;
  /** Highest sampled sum of PSS over the matching descendants. */
  pssPeakKiB: number;
  /** Highest sampled sum of RSS (shared memory counted once per process: an over-estimate). */
  rssSumPeakKiB: number;
  /** Sum of VmHWM of the matching descendants alive at the end. */
  hwmSumEndKiB: number;
}

/**
 * Samples the memory of a process's descendants whose command matches `match` (e.g. the embedded
 * PostgreSQL of Strata) every `intervalMs`, keeping the peaks.
 */
export class TreeSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly seen = new Set<number>();
  private pssPeak = 0;
  private rssPeak = 0;

  constructor(
    private readonly root: number,
    private readonly match: (comm: string) => boolean,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  private matching(): number[] {
    return descendants(this.root)
      .filter((d) => this.match(d.comm))
      .map((d) => d.pid);
  }

  sample(): void {
    let pss = 0;
    let rss = 0;
    for (const pid of this.matching()) {
      this.seen.add(pid);
      pss += procPssKiB(pid) ?? 0;
      rss += procStatus(pid)?.vmRssKiB ?? 0;
    }
    this.pssPeak = Math.max(this.pssPeak, pss);
    this.rssPeak = Math.max(this.rssPeak, rss);
  }

  /** Takes a last sample and stops. */
  finish(): TreeMemory {
    this.sample();
    clearInterval(this.timer);
    const hwm = this.matching().reduce((sum, pid) => sum + (procStatus(pid)?.vmHwmKiB ?? 0), 0);
    return {
      processes: this.seen.size,
      pssPeakKiB: this.pssPeak,
      rssSumPeakKiB: this.rssPeak,
      hwmSumEndKiB: hwm,
    };
  }
}
