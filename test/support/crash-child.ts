import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEnv } from './strata-harness.js';

/**
 * The real server as a child process, for tests that kill it with SIGKILL. It is built once per
 * test file into a private output folder inside node_modules/.cache (so that module resolution
 * still finds node_modules, and neither a concurrent `npm run build` of dist/ nor another test run
 * can swap files under a starting child); `removeServerBuild` deletes it.
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CHILD_DIST = join(REPO, 'node_modules', '.cache', `strata-crash-dist-${process.pid}`);

/** Compiles src/ with tsconfig.build.json into CHILD_DIST; throws with tsc's output on failure. */
export function buildServer(timeoutMs = 180_000): Promise<void> {
  return new Promise((done, fail) => {
    const tsc = spawn(
      process.execPath,
      [
        join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(REPO, 'tsconfig.build.json'),
        '--outDir',
        CHILD_DIST,
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    tsc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    tsc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => tsc.kill('SIGKILL'), timeoutMs);
    tsc.on('error', fail);
    tsc.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) done();
      else fail(new Error(`the server build failed (tsc exit ${code}):\n${output.slice(0, 4000)}`));
    });
  });
}

/** Deletes this process's build (call in afterAll). */
export function removeServerBuild(): void {
  rmSync(CHILD_DIST, { recursive: true, force: true });
}

/** A port that was free a moment ago on 127.0.0.1 (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export interface ChildStrata {
  proc: ChildProcess;
  httpUrl: string;
  dicomPort: number;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL, then wait for the exit: a crash, no shutdown hooks. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful stop), SIGKILL if still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((done) => proc.once('exit', () => done()));
}

/** Kills every child started by this module that is still running (for afterAll). */
export async function killAllChildren(): Promise<void> {
  const all = [...children];
  for (const proc of all) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  await Promise.all(all.map(exited));
}

/**
 * Starts `node <build>/src/main.js` against `databaseUrl` (an external PostgreSQL, so killing the
 * child leaves the database up) with explicit free ports on 127.0.0.1, and the config file
 * `configYaml` if given; resolves once it logs that it listens. The ports are read back from that
 * log line.
 */
export async function startChild(
  dataDir: string,
  databaseUrl: string,
  options: { configYaml?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildStrata> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  mkdirSync(join(dataDir, 'policies'), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...testEnv(dataDir, databaseUrl, {
      STRATA_HTTP_PORT: String(await freePort()),
      STRATA_DICOM_PORT: String(await freePort()),
      // The "listening" line is logged at info level.
      STRATA_LOG_LEVEL: 'info',
    }),
    ...options.env,
  };
  // `env: { NAME: undefined }` removes a variable (e.g. DATABASE_URL, for the embedded database).
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  delete env.STRATA_CONFIG;
  if (options.configYaml !== undefined) {
    env.STRATA_CONFIG = join(dataDir, 'strata.config.yaml');
    writeFileSync(env.STRATA_CONFIG, options.configYaml);
  }
  delete env.NODE_OPTIONS;
  const proc = spawn(process.execPath, [join(CHILD_DIST, 'src', 'main.js')], {
    cwd: dataDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let output = '';
  const onData = (d: Buffer) => {
    // Keep the head (start-up) and the tail (what happened last) of long logs.
    output += d.toString();
    if (output.length > 400_000) output = output.slice(0, 100_000) + output.slice(-200_000);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  // eslint-disable-next-line no-control-regex
  const plain = () => output.replace(/\x1b\[[0-9;]*m/g, '');
  let onEarlyExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  const ports = await new Promise<{ http: number; dicom: number }>((done, fail) => {
    const timer = setTimeout(() => {
      fail(new Error(`the server did not start within ${timeoutMs} ms:\n${plain().slice(-4000)}`));
    }, timeoutMs);
    const check = () => {
      const m = /listening: HTTP http:\/\/[^:]+:(\d+).*DICOM \S+@[^:]+:(\d+)/.exec(plain());
      if (m) {
        clearTimeout(timer);
        done({ http: Number(m[1]), dicom: Number(m[2]) });
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    onEarlyExit = (code, signal) => {
      clearTimeout(timer);
      fail(
        new Error(`the server exited (${code ?? signal}) while starting:\n${plain().slice(-4000)}`),
      );
    };
    proc.once('exit', onEarlyExit);
  });
  if (onEarlyExit) proc.off('exit', onEarlyExit);
  return {
    proc,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    dicomPort: ports.dicom,
    output: plain,
    kill9: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited(proc);
    },
    stop: async (graceMs = 15_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited(proc);
      clearTimeout(timer);
    },
  };
}
