import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid, type GeneratedInstance } from '../../src/dicom/testing/index.js';
import { DimseClient } from '../../src/dimse/index.js';
import { Scheduler, Sweeps } from '../../src/lifecycle/index.js';
import { OpenPgpRepository } from '../../src/storage/openpgp.repository.js';
import { JobLeases } from '../../src/tiering/index.js';
import {
  buildServer,
  type ChildStrata,
  killAllChildren,
  removeServerBuild,
  startChild,
} from '../support/crash-child.js';
import { createTestBucket, s3BackendYaml } from '../support/s3.js';
import { stow } from '../support/stow-client.js';
import {
  removeDataDir,
  secondNodeDataDir,
  startTestStrata,
  type TestStrata,
} from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { bucketKeys, folderKeys } from '../support/tiers.js';
import { callApi, retrieveDataset } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const PASSPHRASE = 'test-passphrase-123'; // testEnv's STRATA_KEY_PASSPHRASE

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** C-STORE of instances over one association, as a modality with `callingAet` would. */
async function cStore(port: number, callingAet: string, instances: GeneratedInstance[]) {
  const client = await DimseClient.connect({
    host: '127.0.0.1',
    port,
    callingAet,
    calledAet: 'STRATA',
    contexts: [{ abstractSyntax: CT, transferSyntaxes: [instances[0]!.transferSyntaxUid] }],
  });
  try {
    for (const i of instances) {
      const r = await client.store({
        sopClassUid: CT,
        sopInstanceUid: i.sopInstanceUid,
        transferSyntaxUid: i.transferSyntaxUid,
        data: Readable.from([i.dataset]),
      });
      expect(r.status).toBe(0);
    }
  } finally {
    await client.release();
  }
}

/**
 * Two Strata nodes against one PostgreSQL and one S3-compatible store (s3rver: the hot tier), the
 * cold tier on a folder both see, one archive key file: what one node stores the other finds and
 * serves; a lifecycle tick runs once; a tier move whose node is killed half-way is finished by the
 * other node once the lease has expired (jobs.leaseSeconds: 2), with no object lost or orphaned;
 * both nodes appending to the audit trail at once leave one valid chain.
 */
describe('two nodes on one database and one object store', () => {
  let databaseUrl: string;
  let bucket: string;
  let shared: string;
  let configYaml: string;
  let a: TestStrata;
  let b: TestStrata;
  let db: pg.Client;
  let aStopped = false;
  const dirs: string[] = [];

  beforeAll(async () => {
    const built = buildServer();
    databaseUrl = await createTestDatabase();
    bucket = await createTestBucket();
    shared = mkdtempSync(join(tmpdir(), 'strata-shared-'));
    dirs.push(shared);
    // The archive key every node is configured with (in practice a file on each node, or a
    // mounted secret); protected by the passphrase every node gets as STRATA_KEY_PASSPHRASE.
    mkdirSync(join(shared, 'keys'), { mode: 0o700 });
    const pair = await new OpenPgpRepository().generateKeyPair(PASSPHRASE);
    writeFileSync(join(shared, 'keys', 'archive.private.asc'), pair.armoredPrivate, {
      mode: 0o600,
    });
    configYaml = `storage:
  backends:
    archive: ${s3BackendYaml(bucket)}
    vault: { type: filesystem, path: '${join(shared, 'cold')}' }
  tiers:
    hot: { backend: archive }
    cold: { backend: vault }
keys:
  privateKeyFile: '${join(shared, 'keys', 'archive.private.asc')}'
jobs:
  leaseSeconds: 2
lifecycle:
  maxActionsPerSecond: 0
  schedules: { retention: '0 0 1 1 *', tiering: '0 0 1 1 *', purge: '0 0 1 1 *' }
fixity: { schedule: 'off' }
`;
    a = await startTestStrata({ configYaml, databaseUrl });
    dirs.push(a.dataDir);
    // Per node: its data dir (temp files, node id), ports. Shared: the database, the stores, the
    // key file, the config, and the dedup secret (copied from the first node).
    b = await startTestStrata({ configYaml, databaseUrl, dataDir: secondNodeDataDir(a) });
    dirs.push(b.dataDir);
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await built;
  }, 300_000);

  afterAll(async () => {
    await db?.end();
    await killAllChildren();
    if (!aStopped) await a?.stop();
    await b?.stop();
    removeServerBuild();
    for (const d of dirs) removeDataDir(d);
  });

  it('an instance stored by C-STORE through node A is found by QIDO and retrieved byte for byte through node B', async () => {
    const i = makeInstance({ sopClassUid: CT, pixelBytes: 200_000 });
    await cStore(a.dicomPort, 'NODE-A-SCU', [i]);
    const qido = await fetch(
      `${b.httpUrl}/dicomweb/studies?StudyInstanceUID=${i.studyInstanceUid}`,
      { headers: { authorization: b.auth, accept: 'application/dicom+json' } },
    );
    expect(qido.status).toBe(200);
    const found = (await qido.json()) as Record<string, { Value?: unknown[] }>[];
    expect(found.map((s) => s['0020000D']?.Value?.[0])).toEqual([i.studyInstanceUid]);
    expect((await retrieveDataset(b.httpUrl, b.auth, i)).equals(i.dataset)).toBe(true);
    // And the other way round: stored through B, read through A.
    const j = makeInstance({ sopClassUid: CT, pixelBytes: 100_000 });
    expect((await stow(b.httpUrl, b.auth, [j.part10])).status).toBe(200);
    expect((await retrieveDataset(a.httpUrl, a.auth, j)).equals(j.dataset)).toBe(true);
    // One object in the shared bucket per instance, whichever node wrote it.
    const { rows } = await db.query<{ key: string }>(
      `SELECT key FROM locations WHERE backend = 'archive' ORDER BY key`,
    );
    expect(rows).toHaveLength(2);
    expect(await bucketKeys(bucket)).toEqual(rows.map((r) => r.key).sort());
  });

  it('a lifecycle tick fired on both nodes at the same instant runs once', async () => {
    const at = new Date('2026-07-01T03:00:00Z');
    const outcomes = await Promise.all([
      a.running.app.get(Scheduler).tick('retention', at),
      b.running.app.get(Scheduler).tick('retention', at),
    ]);
    expect([...outcomes].sort()).toEqual(['claimed-elsewhere', 'ran']);
    await a.running.app.get(Sweeps).idle();
    await b.running.app.get(Sweeps).idle();
    const { rows } = await db.query<{ status: string; claimed_by: string }>(
      `SELECT status, claimed_by FROM jobs WHERE kind = 'lifecycle.retention'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('done');
    // Run by the node that won the tick, under its lease.
    const winner = outcomes.indexOf('ran') === 0 ? a : b;
    const [lease] = (
      await db.query<{ holder: string }>(
        `SELECT holder FROM schedule_leases WHERE name = 'retention'`,
      )
    ).rows;
    expect(lease!.holder).toBe(winner.running.app.get(JobLeases).nodeId);
    expect(rows[0]!.claimed_by).toBe(lease!.holder);
  });

  it('both nodes ingesting at once append to one audit chain, which verifies', async () => {
    const viaA = Array.from({ length: 12 }, () =>
      makeInstance({ sopClassUid: CT, pixelBytes: 4_000 }),
    );
    const viaB = Array.from({ length: 12 }, () =>
      makeInstance({ sopClassUid: CT, pixelBytes: 4_000 }),
    );
    await Promise.all([
      // Node A: two modalities' associations; node B: STOW-RS requests, two at a time.
      cStore(a.dicomPort, 'NODE-A-SCU', viaA.slice(0, 6)),
      cStore(a.dicomPort, 'NODE-A-SCU', viaA.slice(6)),
      (async () => {
        for (let n = 0; n < 6; n += 2) {
          const r = await stow(b.httpUrl, b.auth, [viaB[n]!.part10, viaB[n + 1]!.part10]);
          expect(r.status).toBe(200);
        }
      })(),
      (async () => {
        for (let n = 6; n < 12; n += 2) {
          const r = await stow(b.httpUrl, b.auth, [viaB[n]!.part10, viaB[n + 1]!.part10]);
          expect(r.status).toBe(200);
        }
      })(),
    ]);
    const seqs = async (instances: GeneratedInstance[]) =>
      (
        await db.query<{ seq: string }>(
          `SELECT seq FROM audit_events WHERE action = 'instance.stored'
              AND detail->>'sopInstanceUid' = ANY($1) ORDER BY seq`,
          [instances.map((i) => i.sopInstanceUid)],
        )
      ).rows.map((r) => Number(r.seq));
    const fromA = await seqs(viaA);
    const fromB = await seqs(viaB);
    expect(fromA).toHaveLength(12);
    expect(fromB).toHaveLength(12);
    // The two nodes' rows interleave in the one chain (they were appended at the same time).
    expect(fromA[0]!).toBeLessThan(fromB[fromB.length - 1]!);
    expect(fromB[0]!).toBeLessThan(fromA[fromA.length - 1]!);
    for (const node of [a, b]) {
      const res = await fetch(`${node.httpUrl}/api/audit/verify`, {
        headers: { authorization: node.auth },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        valid: boolean;
        problems: unknown[];
        firstBrokenLink: unknown;
        rowsChecked: number;
      };
      expect(body).toMatchObject({ valid: true, problems: [], firstBrokenLink: null });
      expect(body.rowsChecked).toBeGreaterThanOrEqual(fromA.length + fromB.length);
    }
  });

  it('a tier move whose node is killed half-way is finished by the other node once the lease expires', async () => {
    // Node A leaves (a graceful stop): the one surviving node, B, is the one to take over.
    await a.stop();
    aStopped = true;
    const study = newUid();
    const instances = [0, 1, 2, 3].map(() =>
      makeInstance({ studyInstanceUid: study, sopClassUid: CT, pixelBytes: 300_000 }),
    );
    expect(
      (
        await stow(
          b.httpUrl,
          b.auth,
          instances.map((i) => i.part10),
        )
      ).status,
    ).toBe(200);
    // Node C: another process of the same deployment (a child process), killed (SIGKILL) right
    // after the first object's new location is committed.
    const cDir = secondNodeDataDir(a);
    dirs.push(cDir);
    let c: ChildStrata | null = await startChild(cDir, databaseUrl, {
      configYaml,
      env: { STRATA_TEST_FAILPOINT: 'move:removed' },
    });
    const res = await fetch(`${c.httpUrl}/api/studies/${study}/move`, {
      method: 'POST',
      headers: { authorization: a.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ tier: 'cold' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await new Promise<void>((done) => {
      if (c!.proc.exitCode !== null || c!.proc.signalCode !== null) done();
      else c!.proc.once('exit', () => done());
    });
    expect(c.proc.signalCode).toBe('SIGKILL');
    c = null;
    const cNode = readFileSync(join(cDir, 'node-id'), 'utf8').trim();
    const [interrupted] = (
      await db.query<{ status: string; claimed_by: string }>(
        'SELECT status, claimed_by FROM jobs WHERE id = $1',
        [id],
      )
    ).rows;
    expect(interrupted).toEqual({ status: 'running', claimed_by: cNode });

    // Node B (running all along, not restarted) takes it over after the lease, and finishes it.
    let job: { status: string; error: string | null } = { status: '', error: null };
    await until('the job to end on node B', async () => {
      job = (await callApi(b, 'GET', `/api/jobs/${id}`)).body as unknown as typeof job;
      return job.status === 'done' || job.status === 'failed';
    });
    expect(job).toMatchObject({ status: 'done', error: null });
    const bNode = b.running.app.get(JobLeases).nodeId;
    const [after] = (
      await db.query<{ claimed_by: string }>('SELECT claimed_by FROM jobs WHERE id = $1', [id])
    ).rows;
    expect(after!.claimed_by).toBe(bNode);
    const takeovers = (
      await db.query<{ at: Date; detail: { job: string; from: string; leaseEnded: string } }>(
        `SELECT at, detail FROM audit_events WHERE action = 'job.taken-over'`,
      )
    ).rows;
    expect(takeovers.map((r) => r.detail)).toEqual([
      expect.objectContaining({ job: id, from: cNode, node: bNode }),
    ]);
    // Taken only once the killed node's lease had ended.
    expect(new Date(takeovers[0]!.detail.leaseEnded).getTime()).toBeLessThanOrEqual(
      takeovers[0]!.at.getTime(),
    );

    // Every object of the study once on the cold tier; nothing orphaned in either store.
    const { rows: tiers } = await db.query<{ tier: string; backend: string; n: number }>(
      `SELECT l.tier, l.backend, count(*)::int AS n FROM locations l
         JOIN instance_versions v ON v.blob_fk = l.blob_fk
         JOIN instances i ON i.id = v.instance_fk
         JOIN studies s ON s.id = i.study_fk
        WHERE s.study_instance_uid = $1 GROUP BY 1, 2`,
      [study],
    );
    expect(tiers).toEqual([{ tier: 'cold', backend: 'vault', n: 4 }]);
    const { rows: all } = await db.query<{ backend: string; key: string }>(
      'SELECT backend, key FROM locations ORDER BY key',
    );
    const keysOf = (backend: string) =>
      all
        .filter((l) => l.backend === backend)
        .map((l) => l.key)
        .sort();
    expect(await bucketKeys(bucket), 'bucket vs locations').toEqual(keysOf('archive'));
    expect(folderKeys(join(shared, 'cold')), 'cold folder vs locations').toEqual(keysOf('vault'));
    for (const i of instances) {
      expect((await retrieveDataset(b.httpUrl, b.auth, i)).equals(i.dataset)).toBe(true);
    }
  }, 180_000);

  it('a node with another dedup secret than the catalog refuses to start, saying which file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-stranger-'));
    dirs.push(dataDir);
    // A child process: a failed start ends the process (as `npm start` would).
    await expect(startChild(dataDir, databaseUrl, { configYaml })).rejects.toThrow(
      /dedup secret in .*keys\/dedup\.secret is not the one this catalog was made with/,
    );
  });
});
