import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('policy reload on SIGHUP (the server as a child process)', () => {
  let work: string;
  let child: ChildStrata;
  let databaseUrl: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'strata-sighup-'));
    databaseUrl = await createTestDatabase();
    mkdirSync(join(work, 'policies', 'retention'), { recursive: true });
    writeFileSync(join(work, 'policies', 'retention', 'keep.yaml'), RETENTION(10));
    await buildServer();
    child = await startChild(work, databaseUrl);
  }, 240_000);
  afterAll(async () => {
    await killAllChildren();
    removeServerBuild();
    await rm(work, { recursive: true, force: true });
  });

  it('reloads and audits with actor SIGHUP; an invalid set is refused and logged', async () => {
    const pg = await import('pg');
    const db = new pg.default.Client({ connectionString: databaseUrl });
    await db.connect();
    const audit = async () =>
      (
        await db.query<AuditRow>(
          `SELECT actor, action, outcome, detail FROM audit_events
            WHERE action = 'policy.reloaded' ORDER BY seq`,
        )
      ).rows;
    const until = async (n: number) => {
      for (let i = 0; i < 100 && (await audit()).length < n; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      return audit();
    };
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
});
