import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './crash-child.js';

export const ORTHANC_BINARY = '/usr/sbin/Orthanc';
const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface OrthancPeer {
  aet: string;
  dicomPort: number;
  http: string;
  /** A REST call; the parsed JSON body (or the raw bytes with `raw`). */
  rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  file(instanceId: string): Promise<Buffer>;
  /** The tail of Orthanc's log. */
  log(): string;
  stop(): Promise<void>;
  /** SIGKILL: the PACS crashes, its associations drop at once. */
  kill(): Promise<void>;
}

/**
 * Orthanc from Debian as a departmental PACS, in a temp dir, on free loopback ports, knowing the
 * given modalities (AE → host/port) for store, move and storage commitment.
 */
export async function startOrthanc(
  modalities: Record<string, { host: string; port: number }>,
  options: { dicomPort?: number } = {},
): Promise<OrthancPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-orthanc-'));
  const dicomPort = options.dicomPort ?? (await freePort());
  const httpPort = await freePort();
  const aet = 'ORTHANC';
  const config = {
    Name: 'strata-test-pacs',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    Plugins: existsSync(DICOMWEB_PLUGIN) ? [DICOMWEB_PLUGIN] : [],
    DicomWeb: { Enable: true, Root: '/dicom-web/' },
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: aet,
    DicomCheckCalledAet: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowMove: true,
    DicomAlwaysAllowGet: true,
    DicomModalities: Object.fromEntries(
      Object.entries(modalities).map(([ae, m]) => [
        ae,
        {
          AET: ae,
          Host: m.host,
          Port: m.port,
          AllowEcho: true,
          AllowStore: true,
          AllowFind: true,
          AllowMove: true,
          AllowGet: true,
          AllowStorageCommitment: true,
        },
      ]),
    ),
  };
  const configFile = join(dir, 'orthanc.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child: ChildProcess = spawn(ORTHANC_BINARY, [configFile], {
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  const http = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited while starting:\n${log}`);
    const ok = await fetch(`${http}/system`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Orthanc did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const rest = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${http}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : Buffer.isBuffer(body)
          ? { body, headers: { 'content-type': 'application/dicom' } }
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.text();
    if (!res.ok)
      throw new Error(`Orthanc ${method} ${path}: HTTP ${res.status} ${text}\n${log.slice(-3000)}`);
    return (text ? JSON.parse(text) : null) as T;
  };
  return {
    aet,
    dicomPort,
    http,
    rest,
    log: () => log,
    file: async (id) =>
      Buffer.from(await (await fetch(`${http}/instances/${id}/file`)).arrayBuffer()),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise<void>((done) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(t);
            done();
          });
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
