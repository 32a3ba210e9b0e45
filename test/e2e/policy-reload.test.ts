import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { PolicyStore } from '../../src/lifecycle/index.js';
import {
  buildServer,
  type ChildStrata,
  killAllChildren,
  removeServerBuild,
  startChild,
} from '../support/crash-child.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, TEST_TOKEN, type TestStrata } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { makeTestPki, type TestPki } from '../support/tls-certificates.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** Two instances with one SOP Instance UID and different bytes. */
function twoVersions() {
  const first = makeInstance({ transferSyntax: 'explicit', sopClassUid: CT, pixelBytes: 2048 });
  const second = makeInstance({
    transferSyntax: 'explicit',
    sopClassUid: CT,
    pixelBytes: 4096,
    sopInstanceUid: first.sopInstanceUid,
    studyInstanceUid: first.studyInstanceUid,
    seriesInstanceUid: first.seriesInstanceUid,
  });
  return { first, second };
}

const RETENTION = (years: number) => `rules:
  - id: everything
    keep: { for: ${years} years, from: study-date }
`;

interface AuditRow {
  actor: string;
  action: string;
  outcome: string;
  detail: Record<string, unknown>;
}

async function reloadAudit(db: { query<T>(sql: string): Promise<T[]> }): Promise<AuditRow[]> {
  return db.query<AuditRow>(
    `SELECT actor, action, outcome, detail FROM audit_events
      WHERE action IN ('policy.reloaded', 'policy.changed') ORDER BY seq`,
  );
}

describe('policy reload: POST /api/policies/reload, validated first, audited', () => {
  let s: TestStrata;
  let policies: string;

  beforeAll(async () => {
    s = await startTestStrata({
      policies: { 'retention/keep.yaml': RETENTION(10), 'duplicates.yaml': 'default: keep-both\n' },
    });
    policies = s.config.policiesDir;
  });
  afterAll(() => s?.stop());

  const reload = (auth = s.auth) =>
    fetch(`${s.httpUrl}/api/policies/reload`, { method: 'POST', headers: { authorization: auth } });
  const version = () => s.running.app.get(PolicyStore, { strict: false }).current.version;

  it('puts changed files in force at once: a duplicate policy changed to reject refuses', async () => {
    const before = version();
    const { first, second } = twoVersions();
    expect((await stow(s.httpUrl, s.auth, [first.part10])).status).toBe(200);

    writeFileSync(join(policies, 'duplicates.yaml'), 'default: reject\n');
    writeFileSync(join(policies, 'retention', 'keep.yaml'), RETENTION(12));
    const res = await reload();
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ reloaded: true, previousVersion: before, lifecycleChanged: true });
    expect(body.policyVersion).not.toBe(before);
    expect(version()).toBe(body.policyVersion);
    expect(Object.keys(body.otherFiles as object)).toContain('duplicates.yaml');

    // The ingest pipeline runs with the reloaded duplicate policy without a restart.
    const refused = await stow(s.httpUrl, s.auth, [second.part10]);
    expect(refused.status).toBe(409);

    const rows = await reloadAudit(s.running.database.database);
    const changed = rows.filter((r) => r.action === 'policy.changed');
    expect(changed.at(-1)).toMatchObject({ actor: 'admin', outcome: 'success' });
    expect(changed.at(-1)!.detail.policyVersion).toBe(body.policyVersion);
    expect(rows.at(-1)).toMatchObject({ action: 'policy.reloaded', outcome: 'success' });
    expect(rows.at(-1)!.detail.previousVersion).toBe(before);
  });

  it('refuses an invalid set whole: 422 naming the file, and the set in force stays', async () => {
    const inForce = version();
    const { first, second } = twoVersions();
    expect((await stow(s.httpUrl, s.auth, [first.part10])).status).toBe(200);
    // A valid change beside an invalid file: neither is taken.
    writeFileSync(join(policies, 'duplicates.yaml'), 'default: keep-both\n');
    writeFileSync(
      join(policies, 'retention', 'broken.yaml'),
      'rules:\n  - id: broken\n    keep: { for: 3 parsecs, from: study-date }\n',
    );
    const res = await reload();
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { detail: string; errors: string[] };
    expect(problem.detail).toMatch(/policies in force stay/);
    expect(problem.errors.join('\n')).toContain('retention/broken.yaml');
    expect(version()).toBe(inForce);
    // The duplicate policy in force is still 'reject'.
    expect((await stow(s.httpUrl, s.auth, [second.part10])).status).toBe(409);

    const rows = await reloadAudit(s.running.database.database);
    expect(rows.at(-1)).toMatchObject({ action: 'policy.reloaded', outcome: 'failure' });
    expect(JSON.stringify(rows.at(-1)!.detail.errors)).toContain('retention/broken.yaml');
  });

  it('needs the archivist or admin role', async () => {
    expect((await reload('Bearer not-a-token-at-all-0123456789')).status).toBe(401);
  });
});

/** The audit rows of one action, read from the child's database, and a wait for the n-th. */
async function auditWatch(databaseUrl: string, action: string) {
  const pg = await import('pg');
  const db = new pg.default.Client({ connectionString: databaseUrl });
  await db.connect();
  const audit = async () =>
    (
      await db.query<AuditRow>(
        `SELECT actor, action, outcome, detail FROM audit_events WHERE action = $1 ORDER BY seq`,
        [action],
      )
    ).rows;
  const until = async (n: number) => {
    for (let i = 0; i < 100 && (await audit()).length < n; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return audit();
  };
  return { db, audit, until };
}

/** The SHA-256 fingerprint of the certificate a TLS listener serves now. */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

describe('SIGHUP (the server as a child process): policies and the DICOM TLS certificate', () => {
  let work: string;
  let child: ChildStrata;
  let databaseUrl: string;
  let pki: TestPki;
  let tlsPort: number;
  const served = () => ({ cert: join(work, 'tls', 'cert.pem'), key: join(work, 'tls', 'key.pem') });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'strata-sighup-'));
    databaseUrl = await createTestDatabase();
    mkdirSync(join(work, 'policies', 'retention'), { recursive: true });
    writeFileSync(join(work, 'policies', 'retention', 'keep.yaml'), RETENTION(10));
    pki = makeTestPki();
    mkdirSync(join(work, 'tls'));
    copyFileSync(pki.strata.certFile, served().cert);
    copyFileSync(pki.strata.keyFile, served().key);
    await buildServer();
    child = await startChild(work, databaseUrl, {
      configYaml: `dicom:\n  tls: { port: 0, certFile: ${served().cert}, keyFile: ${served().key} }\n`,
    });
    tlsPort = Number(/and TLS [^:\s]+:(\d+)/.exec(child.output())?.[1]);
  }, 240_000);
  afterAll(async () => {
    await killAllChildren();
    removeServerBuild();
    pki?.remove();
    await rm(work, { recursive: true, force: true });
  });

  it('reloads and audits with actor SIGHUP; an invalid set is refused and logged', async () => {
    const { db, until } = await auditWatch(databaseUrl, 'policy.reloaded');
    try {
      writeFileSync(join(work, 'policies', 'retention', 'keep.yaml'), RETENTION(11));
      child.proc.kill('SIGHUP');
      const [ok] = await until(1);
      expect(ok).toMatchObject({ actor: 'SIGHUP', outcome: 'success' });
      expect(ok!.detail.lifecycleChanged).toBe(true);

      writeFileSync(join(work, 'policies', 'retention', 'keep.yaml'), 'rules: [oops\n');
      child.proc.kill('SIGHUP');
      const rows = await until(2);
      expect(rows[1]).toMatchObject({ actor: 'SIGHUP', outcome: 'failure' });
      expect(child.output()).toMatch(/policy reload refused/);
      // Still serving.
      const health = await fetch(`${child.httpUrl}/health`);
      expect(child.proc.exitCode).toBeNull();
      expect(health.status).toBe(200);
      expect(
        (
          await fetch(`${child.httpUrl}/api/jobs`, {
            headers: { authorization: `Bearer ${TEST_TOKEN}` },
          })
        ).status,
      ).toBe(200);
    } finally {
      await db.end();
    }
  });

  it('serves a renewed DICOM TLS certificate after SIGHUP; a key that does not match keeps the old', async () => {
    const { db, audit, until } = await auditWatch(databaseUrl, 'tls.certificate-reloaded');
    try {
      expect(tlsPort).toBeGreaterThan(0);
      expect(await servedCertificate(tlsPort)).toBe(fingerprintOf(pki.strata.certFile));
      // Renewed in place (here: another certificate of the same CA, with its key).
      copyFileSync(pki.peer.certFile, served().cert);
      copyFileSync(pki.peer.keyFile, served().key);
      // The policy test's SIGHUPs reloaded the (same) certificate already: count from here.
      const before = (await audit()).length;
      child.proc.kill('SIGHUP');
      const ok = (await until(before + 1))[before];
      expect(ok).toMatchObject({ actor: 'SIGHUP', outcome: 'success' });
      expect(ok!.detail.fingerprint256).toBe(fingerprintOf(pki.peer.certFile));
      expect(await servedCertificate(tlsPort)).toBe(fingerprintOf(pki.peer.certFile));

      // A half-done renewal: the new certificate with the old key. Refused; the peer cert stays.
      copyFileSync(pki.strata.certFile, served().cert);
      child.proc.kill('SIGHUP');
      const refused = (await until(before + 2))[before + 1];
      expect(refused).toMatchObject({ actor: 'SIGHUP', outcome: 'failure' });
      expect(String(refused!.detail.error)).toMatch(/dicom\.tls\.keyFile: .* is not the key/);
      expect(await servedCertificate(tlsPort)).toBe(fingerprintOf(pki.peer.certFile));
      expect(child.output()).toMatch(/the DICOM TLS certificate in use stays/);
    } finally {
      await db.end();
    }
  });

  it('SIGTERM with a drain time: not ready at once, still serving, then a clean exit', async () => {
    await child.stop();
    expect(child.proc.exitCode).toBe(0); // a clean stop, not async-exit-hook's 143
    // The tests before left an invalid policy file and a certificate with another's key.
    writeFileSync(join(work, 'policies', 'retention', 'keep.yaml'), RETENTION(11));
    copyFileSync(pki.strata.certFile, served().cert);
    copyFileSync(pki.strata.keyFile, served().key);
    const drained = await startChild(work, databaseUrl, {
      configYaml: `dicom:\n  tls: { port: 0, certFile: ${served().cert}, keyFile: ${served().key} }\n`,
      env: { STRATA_SHUTDOWN_DRAIN_SECONDS: '2' },
    });
    expect((await fetch(`${drained.httpUrl}/ready`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => drained.proc.once('exit', resolve));
    const sent = Date.now();
    drained.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${drained.httpUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(
      ((await ready.json()) as { checks: { name: string; ok: boolean }[] }).checks,
    ).toContainEqual(expect.objectContaining({ name: 'node', ok: false }));
    expect((await fetch(`${drained.httpUrl}/health`)).status).toBe(200);
    expect(await exited).toBe(0);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(2000);
  });
});
