import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildServer,
  type ChildStrata,
  killAllChildren,
  removeServerBuild,
  startChild,
} from '../support/crash-child.js';
import { storeStudy } from '../support/lifecycle.js';
import { filesUnder } from '../support/object-files.js';
import { cli } from '../support/cli.js';
import { TEST_TOKEN, testEnv } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { callApi, waitForJob } from '../support/wado-client.js';

const AUTH = `Bearer ${TEST_TOKEN}`;
const NOW = '2026-06-01T12:00:00Z';
const config = (batchSize: number) => `
lifecycle:
  batchSize: ${batchSize}
  maxActionsPerSecond: 0
  schedules: { retention: 'off', tiering: 'off', purge: 'off' }
fixity:
  schedule: 'off'
`;

function exited(server: ChildStrata): Promise<void> {
  return new Promise<void>((done) => {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) done();
    else server.proc.once('exit', () => done());
  });
}

/** A policy directory with three mistakes an archivist could make. */
function badPolicies(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bad-policies-'));
  mkdirSync(join(dir, 'retention'));
  writeFileSync(
    join(dir, 'retention', 'local.yaml'),
    [
      'rules:',
      '  - id: research',
      '    when: { modalty: CT }',
      '    keep: { for: 10 yeers, from: study-date }',
      '',
    ].join('\n'),
  );
  return dir;
}

/**
 * kill -9 in the middle of a retention sweep and of a purge, then a restart: the sweep resumes
 * from its checkpoint (each study expired once, audited once), and the purge finishes (every
 * object gone, one certificate listing them all).
 */
describe('lifecycle sweeps killed half-way resume at the restart', () => {
  const dirs: string[] = [];
  beforeAll(() => buildServer(), 240_000);
  afterAll(async () => {
    await killAllChildren();
    removeServerBuild();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const start = (dataDir: string, databaseUrl: string, env: Record<string, string>) =>
    startChild(dataDir, databaseUrl, {
      configYaml: config(1),
      env: { STRATA_POLICIES_DIR: resolve('policies'), STRATA_TEST_NOW: NOW, ...env },
    });

  it('a retention sweep killed after its first batch', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-sweep-crash-'));
    dirs.push(dataDir);
    const databaseUrl = await createTestDatabase();
    let server = await start(dataDir, databaseUrl, { STRATA_TEST_FAILPOINT: 'sweep:batch' });
    const target = { httpUrl: server.httpUrl, auth: AUTH };
    const uids: string[] = [];
    for (const p of ['CRASH-1', 'CRASH-2', 'CRASH-3']) {
      uids.push(
        await storeStudy(target, {
          patientId: p,
          birthDate: '19500101',
          studyDate: '20050101',
          modality: 'CT',
        }),
      );
    }
    const run = await callApi(target, 'POST', '/api/sweeps/retention/run');
    expect(run.status).toBe(202);
    await exited(server);
    expect(server.proc.signalCode).toBe('SIGKILL');

    server = await start(dataDir, databaseUrl, {});
    const job = await waitForJob({ httpUrl: server.httpUrl, auth: AUTH }, String(run.body.id));
    expect(job).toMatchObject({ status: 'done', error: null });
    expect((job.result as { expired: number }).expired).toBe(3);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const expired = await db.query(
        'SELECT 1 FROM studies WHERE study_instance_uid = ANY($1) AND expired_at IS NOT NULL',
        [uids],
      );
      expect(expired.rowCount).toBe(3);
      const audited = await db.query<{ study_instance_uid: string; n: number }>(
        `SELECT study_instance_uid, count(*)::int AS n FROM audit_events
          WHERE action = 'study.expired' GROUP BY study_instance_uid`,
      );
      expect(audited.rows.map((r) => r.n)).toEqual([1, 1, 1]);
    } finally {
      await db.end();
      await server.stop();
    }
  }, 180_000);

  it('a purge killed after deleting its first object', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-purge-crash-'));
    dirs.push(dataDir);
    const databaseUrl = await createTestDatabase();
    let server = await start(dataDir, databaseUrl, {});
    const uid = await storeStudy(
      { httpUrl: server.httpUrl, auth: AUTH },
      {
        patientId: 'PURGE-1',
        birthDate: '19500101',
        studyDate: '20250101',
        modality: 'CT',
        instances: 3,
      },
    );
    const del = await callApi(
      { httpUrl: server.httpUrl, auth: AUTH },
      'DELETE',
      `/api/studies/${uid}`,
      {
        reason: 'test',
      },
    );
    expect(del.status).toBe(202);
    await server.stop();

    // 31 days later: the purge is due; the node is killed after the first object's delete.
    const later = { STRATA_TEST_NOW: '2026-07-02T12:00:00Z' };
    server = await start(dataDir, databaseUrl, {
      ...later,
      STRATA_TEST_FAILPOINT: 'purge:object-deleted',
    });
    await callApi({ httpUrl: server.httpUrl, auth: AUTH }, 'POST', '/api/sweeps/purge/run');
    await exited(server);
    expect(server.proc.signalCode).toBe('SIGKILL');
    // Killed half-way: the purge's journal lists three objects, one of them confirmed deleted.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const journal = await db
      .query<{ confirmed: boolean }>(
        'SELECT confirmation IS NOT NULL AS confirmed FROM purge_journal ORDER BY id',
      )
      .finally(() => db.end());
    expect(journal.rows.map((r) => r.confirmed)).toEqual([true, false, false]);

    server = await start(dataDir, databaseUrl, later);
    const target = { httpUrl: server.httpUrl, auth: AUTH };
    const run = await callApi(target, 'POST', '/api/sweeps/purge/run');
    const job = await waitForJob(target, String(run.body.id));
    expect(job).toMatchObject({ status: 'done', error: null });
    const e = await callApi(target, 'GET', `/api/studies/${uid}/lifecycle`);
    expect(e.body.state).toBe('purged');
    const cert = await callApi(
      target,
      'GET',
      `/api/deletions/${String(e.body.deletionCertificate)}`,
    );
    const locations = (
      cert.body.certificate as { locations: { key: string; confirmation: string }[] }
    ).locations;
    expect(locations).toHaveLength(3);
    // One was deleted before the crash, two after: all confirmed gone.
    expect(locations.filter((l) => l.confirmation.startsWith('deleted')).length).toBe(3);
    const files = filesUnder(dataDir);
    for (const l of locations) expect(files.some((f) => f.endsWith(l.key))).toBe(false);
    await server.stop();
  }, 180_000);

  it('the server refuses to start on invalid policies, naming each file, line and key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-bad-policies-start-'));
    const bad = badPolicies();
    dirs.push(dataDir, bad);
    const databaseUrl = await createTestDatabase();
    const started = startChild(dataDir, databaseUrl, { env: { STRATA_POLICIES_DIR: bad } });
    const error = await started.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/exited \(1\) while starting/);
    expect(error?.message).toContain(
      "retention/local.yaml:3: rules[0].when: unknown key 'modalty'",
    );
    expect(error?.message).toContain('retention/local.yaml:4: rules[0].keep.for:');
  }, 120_000);

  it('strata policy and strata hold: validate, explain, simulate, place, list, release', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-policy-cli-'));
    const bad = badPolicies();
    dirs.push(dataDir, bad);
    const databaseUrl = await createTestDatabase();
    const server = await start(dataDir, databaseUrl, {});
    const uid = await storeStudy(
      { httpUrl: server.httpUrl, auth: AUTH },
      { patientId: 'CLI-1', birthDate: '19700101', studyDate: '20200101', modality: 'CT' },
    );
    await server.stop();
    const env = testEnv(dataDir, databaseUrl, {
      STRATA_POLICIES_DIR: resolve('policies'),
      STRATA_TEST_NOW: NOW,
    });

    let r = await cli(['policy', 'validate'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid: 4 retention and 2 tiering rule\(s\) in 3 file\(s\)/);
    r = await cli(['policy', 'validate', bad], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("retention/local.yaml:3: rules[0].when: unknown key 'modalty'");
    expect(r.stderr).toMatch(/retention\/local.yaml:4: rules\[0\]\.keep\.for: .*'10 yeers'/);

    r = await cli(['policy', 'explain', uid], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('retention: until 2030-01-01 (rule adult)');
    expect(r.stdout).toMatch(/won +adult/);
    expect(r.stdout).toMatch(/next move: hot → warm on \d{4}-\d{2}-\d{2} \(rule hot-to-warm\)/);
    r = await cli(['policy', 'explain', uid, '--at', '2030-01-02'], env);
    expect(r.stdout).toMatch(/action now: expire \(rule adult\)/);

    r = await cli(
      ['hold', 'place', '--patient', 'CLI-1', '--reason', 'litigation', '--case', 'C-9'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const id = /#(\d+)/.exec(r.stdout)![1]!;
    r = await cli(['policy', 'explain', uid, '--at', '2030-01-02'], env);
    expect(r.stdout).toContain(`action now: expire blocked by hold(s) ${id}`);
    r = await cli(['hold', 'list'], env);
    expect(r.stdout).toMatch(
      new RegExp(`#${id} +patient CLI-1 +active .*litigation \\[case C-9\\]`),
    );
    r = await cli(['hold', 'release', id, '--reason', 'settled'], env);
    expect(r.code, r.stderr).toBe(0);
    r = await cli(['hold', 'release', id, '--reason', 'again'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`hold ${id} was already released`);
    r = await cli(['hold', 'list'], env);
    expect(r.stdout.trim()).toBe('no active holds');
    r = await cli(['hold', 'place', '--reason', 'no subject'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give either patientId or studyInstanceUid');

    r = await cli(['policy', 'simulate', '--months', '3'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/simulation from 2026-06-01 over 3 month\(s\): 1 studies/);
    expect(r.stdout.match(/^2026-0[789]-01 /gm)).toHaveLength(3);
    r = await cli(['policy', 'simulate', '--policies', bad], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the proposed policies are not valid');

    r = await cli(['sweep', 'run', 'retention'], {
      ...env,
      STRATA_TEST_NOW: '2030-06-01T00:00:00Z',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/retention sweep \(job \d+\) done: 1 studies evaluated, 1 expired/);
    r = await cli(['policy', 'explain', uid], env);
    expect(r.stdout).toContain(`study ${uid} (expired)`);

    for (const args of [
      ['policy'],
      ['policy', 'explain', 'x'],
      ['policy', 'simulate', '--months', '0'],
      ['hold'],
    ]) {
      r = await cli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
    }
  }, 180_000);
});
