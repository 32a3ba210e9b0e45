import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './crash-child.js';

/**
 * rsyslog (Debian's rsyslog and rsyslog-gnutls) as the audit record repository of the syslog
 * tests: run in the foreground with a config, pid file and output in a temp dir, listening with
 * imtcp on a loopback port, writing each message it receives (exactly as received) on a line of
 * its own. In CI STRATA_REQUIRE_INTEROP=1 makes its absence a failure, not a skip.
 */

const CANDIDATES = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'];

function rsyslogd(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return CANDIDATES.find((c) => existsSync(c)) ?? null;
  }
}

function required(what: string): never {
  throw new Error(
    `${what} is required (STRATA_REQUIRE_INTEROP=1) but not installed: apt-get install rsyslog rsyslog-gnutls`,
  );
}

/** Whether rsyslogd is installed (throws under STRATA_REQUIRE_INTEROP=1 when it is not). */
export function hasRsyslog(): boolean {
  if (rsyslogd()) return true;
  if (process.env.STRATA_REQUIRE_INTEROP === '1') required('rsyslogd');
  return false;
}

/** Whether rsyslog's TLS driver (lmnsd_gtls, package rsyslog-gnutls) is installed. */
export function hasRsyslogTls(): boolean {
  // rsyslogd -N1 does not load network stream drivers: look for the module itself.
  const dirs = ['/usr/lib/rsyslog', '/usr/lib64/rsyslog'];
  try {
    for (const e of readdirSync('/usr/lib')) {
      if (e.endsWith('-linux-gnu')) dirs.push(join('/usr/lib', e, 'rsyslog'));
    }
  } catch {
    // no /usr/lib: nothing more to look at
  }
  if (dirs.some((d) => existsSync(join(d, 'lmnsd_gtls.so')))) return true;
  if (process.env.STRATA_REQUIRE_INTEROP === '1') required('rsyslog-gnutls (the gtls driver)');
  return false;
}

export interface RsyslogTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require and check a client certificate signed by the CA (x509/certvalid). */
  requireClientCert?: boolean;
}

export interface Rsyslog {
  port: number;
  dir: string;
  /** The messages received so far, one per line, as received (the BOM included). */
  messages(): Buffer[];
  /** Starts it again on the same port, appending to the same file. */
  start(): Promise<void>;
  /** SIGTERM (rsyslog writes what it queued, then exits) or SIGKILL; waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  remove(): void;
}

export async function startRsyslog(options: { tls?: RsyslogTls } = {}): Promise<Rsyslog> {
  const bin = rsyslogd();
  if (!bin) throw new Error('rsyslogd is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'strata-rsyslog-'));
  const port = await freePort();
  const out = join(dir, 'received.log');
  const tls = options.tls;
  const conf = [
    `global(workDirectory="${dir}" maxMessageSize="256k"` +
      (tls
        ? ` DefaultNetstreamDriverCAFile="${tls.caFile}" DefaultNetstreamDriverCertFile="${tls.certFile}" DefaultNetstreamDriverKeyFile="${tls.keyFile}"`
        : '') +
      ')',
    tls
      ? `module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="${tls.requireClientCert ? 'x509/certvalid' : 'anon'}")`
      : 'module(load="imtcp")',
    `input(type="imtcp" port="${port}" address="127.0.0.1" name="strata")`,
    'template(name="raw" type="string" string="%rawmsg%\\n")',
    'if $inputname == "strata" then {',
    `  action(type="omfile" file="${out}" template="raw")`,
    '  stop',
    '}',
  ].join('\n');
  writeFileSync(join(dir, 'rsyslog.conf'), `${conf}\n`);
  let proc: ChildProcess | null = null;
  let log = '';

  const start = async () => {
    proc = spawn(bin, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`rsyslogd exited (${proc.exitCode}): ${log}`);
      if (await accepts(port)) return;
      if (Date.now() > deadline) throw new Error(`rsyslogd does not listen on ${port}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((done) => p.once('exit', () => done()));
    p.kill(signal);
    await exited;
    proc = null;
  };

  await start();
  return {
    port,
    dir,
    messages: () => {
      if (!existsSync(out)) return [];
      const all = readFileSync(out);
      const lines: Buffer[] = [];
      let from = 0;
      for (let i = all.indexOf(0x0a); i >= 0; i = all.indexOf(0x0a, from)) {
        lines.push(all.subarray(from, i));
        from = i + 1;
      }
      return lines;
    },
    start,
    stop,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Whether something accepts TCP connections on the port (the probe sends nothing). */
function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate (openssl). */
export function makeCertificates(dir: string): {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
} {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=Strata test CA',
  );
  writeFileSync(
    f('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(
      'req',
      ...ec,
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
      '-subj',
      `/CN=strata-${who}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${who}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${who}.ext`),
    );
  }
  return {
    caFile: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}
