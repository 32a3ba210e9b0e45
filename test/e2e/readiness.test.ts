import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadinessService } from '../../src/admin/index.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';

interface ReadyBody {
  status: string;
  checks: { name: string; ok: boolean; detail?: string }[];
}

async function ready(s: TestStrata): Promise<{ status: number; body: ReadyBody }> {
  const res = await fetch(`${s.httpUrl}/ready`); // no token: load balancers have none
  return { status: res.status, body: (await res.json()) as ReadyBody };
}

const check = (body: ReadyBody, name: string) => body.checks.find((c) => c.name === name);

/** The reasons, which only the log and the service itself give (not the public answer). */
async function details(s: TestStrata): Promise<ReadyBody> {
  const r = await s.running.app.get(ReadinessService, { strict: false }).check();
  return { status: r.ready ? 'ready' : 'not ready', checks: r.checks };
}

describe('/health and /ready (for load balancers and orchestrators)', () => {
  let s: TestStrata;
  let proxy: TcpProxy;
  let vault: string;

  beforeAll(async () => {
    // The archive reaches PostgreSQL through a relay the test can take down: the database "stops".
    const url = new URL(await createTestDatabase());
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    url.port = String(proxy.port);
    vault = await mkdtemp(join(tmpdir(), 'strata-ready-vault-'));
    s = await startTestStrata({
      databaseUrl: url.toString(),
      configYaml: `storage:
  backends:
    local: { type: filesystem, path: '${join(vault, '..', `${vault.split('/').pop()}-hot`)}' }
    vault: { type: filesystem, path: '${vault}' }
  tiers:
    hot: { backend: local }
    cold: { backend: vault }
`,
    });
  });
  afterAll(async () => {
    await s?.stop();
    await proxy?.close();
    await rm(vault, { recursive: true, force: true });
  });

  it('is ready when the database, the schema, every backend and the DICOM listener are', async () => {
    const { status, body } = await ready(s);
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.map((c) => c.name).sort()).toEqual(
      ['database', 'dicom', 'migrations', 'node', 'storage'].sort(),
    );
    expect(body.checks.every((c) => c.ok)).toBe(true);
    // The public answer names the checks, never their details (hosts, ports, errors).
    expect(body.checks.every((c) => c.detail === undefined)).toBe(true);
    const inside = await details(s);
    expect(check(inside, 'dicom')?.detail).toContain(String(s.dicomPort));
    expect(check(inside, 'storage')?.detail).toMatch(/vault: filesystem/);
  });

  it('is not ready while a storage backend cannot be written, and ready again after', async () => {
    rmSync(vault, { recursive: true, force: true });
    const gone = await ready(s);
    expect(gone.status).toBe(503);
    expect(gone.body.status).toBe('not ready');
    expect(check(gone.body, 'storage')).toMatchObject({ ok: false });
    expect(check(await details(s), 'storage')?.detail).toContain("'vault'");
    expect(check(gone.body, 'database')?.ok).toBe(true);
    mkdirSync(join(vault, '.tmp'), { recursive: true });
    expect((await ready(s)).status).toBe(200);
  });

  it('flips to 503 when the database stops, /health stays 200, and back when it returns', async () => {
    await proxy.down();
    const down = await ready(s);
    expect(down.status).toBe(503);
    expect(check(down.body, 'database')?.ok).toBe(false);
    expect(check(down.body, 'migrations')?.ok).toBe(false);
    expect(check(down.body, 'dicom')?.ok).toBe(true);
    const health = await fetch(`${s.httpUrl}/health`);
    expect(health.status).toBe(200);

    await proxy.up();
    // The pool makes new connections once the server answers again.
    let back = await ready(s);
    for (let i = 0; i < 20 && back.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      back = await ready(s);
    }
    expect(back.status).toBe(200);
    expect(check(back.body, 'database')?.ok).toBe(true);
  });
});
