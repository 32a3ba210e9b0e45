import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceOptions, makeInstance, newUid } from '../../src/dicom/testing/index.js';
import {
  buildServer,
  type ChildStrata,
  killAllChildren,
  removeServerBuild,
  startChild,
} from '../support/crash-child.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf, parseMultipart } from '../support/multipart.js';
import { TEST_TOKEN } from '../support/strata-harness.js';
import { filesUnder } from '../support/object-files.js';
import { createTestDatabase } from '../support/test-database.js';

/**
 * Promise 1 under kill -9: the real server runs as a child process (external PostgreSQL, so the
 * database survives), is killed while instances stream in over C-STORE and over STOW-RS, and is
 * started again on the same data dir and database. Then: every acknowledged instance is there and
 * byte-identical, every catalog row points at a whole object, no temp file survives the restart,
 * and sending everything again converges to a complete archive.
 */

const AUTH = `Bearer ${TEST_TOKEN}`;
const INSTANCES = 300;
const PIXEL_BYTES = 512 * 1024;
const STUDIES = 6;
/** Kill once this many instances are in (acknowledged for C-STORE, committed for STOW). */
const KILL_AFTER = 25;

/**
 * The start-up sweep removes crash leftovers older than storage.orphanGraceSeconds, which defaults
 * to 15 minutes with DATABASE_URL (other nodes might share the hot tier). These tests run a single
 * node against an external PostgreSQL, the case a grace of 0 is for.
 */
const SINGLE_NODE = { configYaml: 'storage:\n  orphanGraceSeconds: 0\n' };

const dcmtk = hasTool('storescu');
let workDir: string;
const dirs: string[] = [];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'strata-crash-'));
  await buildServer();
}, 240_000);

afterAll(async () => {
  await killAllChildren();
  removeServerBuild();
  for (const d of [workDir, ...dirs]) if (d) rmSync(d, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// Sources and what the archive holds

interface Source {
  sop: string;
  study: string;
  series: string;
  sha256: string;
  length: number;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * INSTANCES instances over STUDIES studies (one series each), 512 KiB of pixel data apiece. The UIDs
 * are drawn once per plan, so generating a plan again gives the very same bytes (for re-sending).
 */
function makePlan(): InstanceOptions[] {
  const studies = Array.from({ length: STUDIES }, () => ({ study: newUid(), series: newUid() }));
  return Array.from({ length: INSTANCES }, (_, n) => ({
    studyInstanceUid: studies[n % STUDIES]!.study,
    seriesInstanceUid: studies[n % STUDIES]!.series,
    sopInstanceUid: newUid(),
    instanceNumber: n + 1,
    patientId: `CRASH${n % STUDIES}`,
    pixelBytes: PIXEL_BYTES,
  }));
}

function* generate(plan: InstanceOptions[]): Generator<{ part10: Buffer; source: Source }> {
  for (const options of plan) {
    const i = makeInstance(options);
    yield {
      part10: i.part10,
      source: {
        sop: i.sopInstanceUid,
        study: i.studyInstanceUid,
        series: i.seriesInstanceUid,
        sha256: sha256(i.dataset),
        length: i.dataset.length,
      },
    };
  }
}

const hotDir = (dataDir: string) => join(dataDir, 'objects', 'hot');

/** Object files under objects/hot (the .tmp folder excluded). */
const objectFiles = (dataDir: string) =>
  filesUnder(hotDir(dataDir)).filter((f) => !f.startsWith('.tmp/'));
const tempFiles = (dataDir: string) => filesUnder(join(hotDir(dataDir), '.tmp'));

/** SOP Instance UID from a Part 10 file's meta group (0002,0003). */
function metaSopInstanceUid(part10: Buffer): string {
  let pos = 132;
  while (pos + 8 <= part10.length && part10.readUInt16LE(pos) === 0x0002) {
    const element = part10.readUInt16LE(pos + 2);
    const vr = part10.toString('latin1', pos + 4, pos + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    const length = long ? part10.readUInt32LE(pos + 8) : part10.readUInt16LE(pos + 6);
    const start = pos + (long ? 12 : 8);
    if (element === 0x0003) {
      return part10.toString('latin1', start, start + length).replace(/[\0 ]+$/, '');
    }
    pos = start + length;
  }
  throw new Error('no MediaStorageSOPInstanceUID in the meta group');
}

/** Every instance of a study, as WADO-RS gives it back: SOP Instance UID → data set digest. */
async function retrieveStudy(
  server: ChildStrata,
  study: string,
): Promise<Map<string, { sha256: string; length: number }>> {
  const res = await fetch(`${server.httpUrl}/dicomweb/studies/${study}`, {
    headers: { authorization: AUTH },
  });
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, body.toString('utf8', 0, 300)).toBe(200);
  const out = new Map<string, { sha256: string; length: number }>();
  for (const part of parseMultipart(body, res.headers.get('content-type')!)) {
    const dataset = datasetOf(part.body);
    out.set(metaSopInstanceUid(part.body), { sha256: sha256(dataset), length: dataset.length });
  }
  return out;
}

interface CatalogFacts {
  instances: string[];
}

/** Object files under objects/hot that no location row points at. */
async function unreferencedObjects(db: pg.Client, dataDir: string): Promise<string[]> {
  const keys = new Set(
    (await db.query<{ key: string }>(`SELECT key FROM locations WHERE backend = 'local'`)).rows.map(
      (r) => r.key,
    ),
  );
  return objectFiles(dataDir).filter((f) => !keys.has(f));
}

/**
 * What a crash left on disk, before the restart: objects written (whole or partly) but never
 * committed. Ingest handles one instance at a time per association or request, writes it straight
 * at its key and commits the catalog row once it is durable, so at most the instance in flight
 * can leave an orphan object; temp files are no longer used at all.
 */
async function leftovers(db: pg.Client, dataDir: string): Promise<{ orphans: number }> {
  expect(tempFiles(dataDir), 'files under objects/hot/.tmp').toEqual([]);
  const orphans = await unreferencedObjects(db, dataDir);
  expect(orphans.length, `orphans at the crash: ${orphans.join(', ')}`).toBeLessThanOrEqual(1);
  return { orphans: orphans.length };
}

/**
 * The archive after a crash and a restart is consistent: checks every promise a kill -9 could
 * break, and returns the instances it holds.
 */
async function expectConsistent(
  db: pg.Client,
  dataDir: string,
  server: ChildStrata,
  sources: Map<string, Source>,
  acknowledged: readonly string[],
): Promise<CatalogFacts> {
  expect(tempFiles(dataDir), 'files under objects/hot/.tmp after the restart').toEqual([]);

  // No location points at a missing or short object.
  const locations = (
    await db.query<{ backend: string; key: string; stored_size: string; status: string }>(
      'SELECT backend, key, stored_size::text, status FROM locations',
    )
  ).rows;
  for (const l of locations) {
    expect(l.backend).toBe('local');
    const path = join(hotDir(dataDir), l.key);
    expect(existsSync(path), `location ${l.key} points at a missing file`).toBe(true);
    expect(statSync(path).size, `location ${l.key} points at a short file`).toBe(
      Number(l.stored_size),
    );
  }

  // Every blob has a location and as many references as versions use it.
  const blobs = (
    await db.query<{ id: string; ref_count: number; locations: number; versions: number }>(
      `SELECT b.id, b.ref_count,
              (SELECT count(*)::int FROM locations l WHERE l.blob_fk = b.id) AS locations,
              (SELECT count(*)::int FROM instance_versions v WHERE v.blob_fk = b.id) AS versions
         FROM blobs b`,
    )
  ).rows;
  for (const b of blobs) {
    expect(b.locations, `blob ${b.id} has no location`).toBeGreaterThanOrEqual(1);
    expect(b.ref_count, `blob ${b.id} ref_count`).toBe(b.versions);
  }

  // Every instance has a current version of its own, on a blob.
  const broken = (
    await db.query(
      `SELECT i.sop_instance_uid FROM instances i
         LEFT JOIN instance_versions v ON v.id = i.current_version_fk
        WHERE v.id IS NULL OR v.instance_fk <> i.id OR i.version_count < 1`,
    )
  ).rows;
  expect(broken, 'instances without a current version').toEqual([]);

  // Denormalised study counters agree with the rows (they are written in the same transaction).
  const counters = (
    await db.query(
      `SELECT s.study_instance_uid FROM studies s
        WHERE s.number_of_instances <> (SELECT count(*) FROM instances i WHERE i.study_fk = s.id)`,
    )
  ).rows;
  expect(counters, 'studies whose instance counter disagrees with the catalog').toEqual([]);

  const instances = (
    await db.query<{ sop_instance_uid: string }>('SELECT sop_instance_uid FROM instances')
  ).rows.map((r) => r.sop_instance_uid);
  const held = new Set(instances);

  // Each stored instance has its successful "instance.stored" audit event (appended in the same
  // transaction), and no such event names an instance the catalog does not hold.
  const audited = new Set(
    (
      await db.query<{ sop: string }>(
        `SELECT DISTINCT detail->>'sopInstanceUid' AS sop FROM audit_events
          WHERE action = 'instance.stored' AND outcome = 'success'`,
      )
    ).rows.map((r) => r.sop),
  );
  expect(
    [...audited].filter((sop) => !held.has(sop)),
    'audited but not stored',
  ).toEqual([]);
  expect(
    instances.filter((sop) => !audited.has(sop)),
    'stored but not audited',
  ).toEqual([]);

  // Every acknowledged instance is in the catalog, and whatever the catalog holds (acknowledged
  // or committed just before the crash) is one of ours and comes back byte for byte.
  for (const sop of acknowledged) expect(held.has(sop), `acknowledged ${sop} is lost`).toBe(true);
  const studies = new Set<string>();
  for (const sop of instances) {
    const source = sources.get(sop);
    expect(source, `an instance that was never sent: ${sop}`).toBeDefined();
    studies.add(source!.study);
  }
  let retrieved = 0;
  for (const study of studies) {
    for (const [sop, got] of await retrieveStudy(server, study)) {
      const source = sources.get(sop)!;
      expect(held.has(sop), `WADO-RS returned ${sop}, which the catalog does not hold`).toBe(true);
      expect(got.length, `${sop} length`).toBe(source.length);
      expect(got.sha256, `${sop} is not byte-identical`).toBe(source.sha256);
      retrieved++;
    }
  }
  expect(retrieved).toBe(instances.length);

  // The start-up sweep also removed objects written but never committed (see leftovers()).
  const orphans = await unreferencedObjects(db, dataDir);
  expect(orphans, 'object files no location points at, after the restart').toEqual([]);
  return { instances };
}

async function connect(databaseUrl: string): Promise<pg.Client> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  return db;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Once `ready` holds, kills the server with SIGKILL at a chosen moment of an object write: 'write'
 * while an object no location points at is being written; 'commit' once such an object has all
 * its bytes, when the catalog transaction may not have committed yet (the orphan window). Falls
 * back to killing whatever the moment after 10 s. Returns whether the moment was hit.
 */
async function killAt(
  moment: 'write' | 'commit',
  server: ChildStrata,
  db: pg.Client,
  dataDir: string,
  ready: () => boolean | Promise<boolean>,
): Promise<boolean> {
  await waitFor(ready, 90_000, 'instances to come in before the kill');
  const deadline = Date.now() + 10_000;
  const whole = (f: string) => {
    try {
      return statSync(join(hotDir(dataDir), f)).size >= PIXEL_BYTES;
    } catch {
      return false;
    }
  };
  let hit = false;
  while (!hit && Date.now() < deadline) {
    const writing = await unreferencedObjects(db, dataDir);
    hit = moment === 'write' ? writing.length > 0 : writing.some(whole);
  }
  await server.kill9();
  return hit;
}

/**
 * One STOW-RS request streaming the plan's instances as parts, generated as the server takes
 * them. `status` resolves with the HTTP status, or null when the connection failed first.
 */
function streamStow(
  server: ChildStrata,
  plan: InstanceOptions[],
  sources: Map<string, Source>,
): { status: Promise<number | null>; sent: () => number } {
  const boundary = `crash-${newUid().slice(-12)}`;
  let sent = 0;
  let failed = false;
  const req = request(`${server.httpUrl}/dicomweb/studies`, {
    method: 'POST',
    headers: {
      authorization: AUTH,
      accept: 'application/dicom+json',
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      'transfer-encoding': 'chunked',
    },
    agent: false,
  });
  const status = new Promise<number | null>((done) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(null));
    });
    req.on('error', () => {
      failed = true;
      done(null);
    });
  });
  void (async () => {
    for (const { part10, source } of generate(plan)) {
      if (failed || req.destroyed) return;
      sources.set(source.sop, source);
      sent++;
      const ok = req.write(
        Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          part10,
          Buffer.from('\r\n'),
        ]),
      );
      if (!ok) {
        await new Promise<void>((r) => {
          const done = () => {
            req.off('drain', done);
            req.off('close', done);
            r();
          };
          req.on('drain', done);
          req.on('close', done);
        });
      }
    }
    if (!failed && !req.destroyed) req.end(`--${boundary}--\r\n`);
  })();
  return { status, sent: () => sent };
}

async function countInstances(db: pg.Client): Promise<number> {
  const r = await db
    .query<{ n: number }>('SELECT count(*)::int AS n FROM instances')
    .catch(() => ({ rows: [{ n: 0 }] }));
  return r.rows[0]!.n;
}

// ------------------------------------------------------------------------------------------------

describe('kill -9 of the server while instances stream in', () => {
  it.runIf(dcmtk)(
    'during C-STORE: every acknowledged instance survives byte for byte, the catalog is whole',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'strata-crash-dimse-'));
      dirs.push(dataDir);
      const databaseUrl = await createTestDatabase();
      const files = join(workDir, 'dimse');
      rmSync(files, { recursive: true, force: true });
      mkdirSync(files, { recursive: true });
      const sources = new Map<string, Source>();
      const byPath = new Map<string, string>();
      const paths: string[] = [];
      for (const { part10, source } of generate(makePlan())) {
        const path = join(files, `${String(paths.length).padStart(3, '0')}.dcm`);
        writeFileSync(path, part10);
        sources.set(source.sop, source);
        byPath.set(path, source.sop);
        paths.push(path);
      }

      let server = await startChild(dataDir, databaseUrl, SINGLE_NODE);
      const db = await connect(databaseUrl);
      try {
        // storescu -v says which file it sends and how each store was answered.
        const scu = spawn(
          'storescu',
          [
            '-v',
            '-aet',
            'CRASHSCU',
            '-aec',
            'STRATA',
            '127.0.0.1',
            String(server.dicomPort),
            ...paths,
          ],
          { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        const acknowledged: string[] = [];
        let current: string | null = null;
        let log = '';
        let pending = '';
        scu.stderr.on('data', (d: Buffer) => {
          log += d.toString();
          pending += d.toString();
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) {
            const sending = /Sending file: (.+)$/.exec(line.trim());
            if (sending) current = sending[1]!;
            else if (/Received Store Response \(Success\)/.test(line) && current) {
              acknowledged.push(byPath.get(current)!);
              current = null;
            }
          }
        });
        const scuExited = new Promise<number | null>((r) => scu.on('close', (code) => r(code)));

        const midWrite = await killAt(
          'write',
          server,
          db,
          dataDir,
          () => acknowledged.length >= KILL_AFTER,
        );
        const code = await Promise.race([
          scuExited,
          new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
        ]);
        if (code === 'hung') scu.kill('SIGKILL');
        await scuExited;
        // Every Success storescu printed was sent by the server before it died.
        expect(
          acknowledged.length,
          'storescu finished before the kill: nothing was in flight',
        ).toBeLessThan(INSTANCES);
        expect(log).not.toMatch(/Releasing Association/);
        const left = await leftovers(db, dataDir);

        server = await startChild(dataDir, databaseUrl, SINGLE_NODE);
        const facts = await expectConsistent(db, dataDir, server, sources, acknowledged);
        console.warn(
          `C-STORE crash: ${acknowledged.length} acknowledged, ${facts.instances.length} in the catalog; ` +
            `killed ${midWrite ? 'during' : 'between'} object writes; ` +
            `${left.orphans} orphan object(s) at the crash, all swept at the restart`,
        );

        // Sending everything again converges: all succeed (the survivors as duplicates).
        const again = await runTool(
          'storescu',
          ['-v', '-aec', 'STRATA', '127.0.0.1', String(server.dicomPort), ...paths],
          180_000,
        );
        expect(again.code, again.stderr.slice(-2000)).toBe(0);
        expect(again.stderr.match(/Received Store Response \(Success\)/g)?.length).toBe(INSTANCES);
        const after = await expectConsistent(db, dataDir, server, sources, [...sources.keys()]);
        expect(after.instances).toHaveLength(INSTANCES);
        await server.stop();
      } finally {
        await db.end();
        await server.kill9();
      }
    },
    240_000,
  );

  it('during a STOW-RS request: nothing was acknowledged, and the catalog is whole', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-crash-stow-'));
    dirs.push(dataDir);
    const databaseUrl = await createTestDatabase();
    let server = await startChild(dataDir, databaseUrl, SINGLE_NODE);
    const db = await connect(databaseUrl);
    const sources = new Map<string, Source>();
    try {
      const plan = makePlan();
      const stream = streamStow(server, plan, sources);
      const midWrite = await killAt(
        'commit',
        server,
        db,
        dataDir,
        async () => (await countInstances(db)) >= KILL_AFTER,
      );
      const status = await Promise.race([
        stream.status,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      // The response never came: nothing was acknowledged.
      expect(status, 'the request neither failed nor was answered').toBeNull();
      expect(stream.sent(), 'the whole body was sent before the kill').toBeLessThan(INSTANCES);
      const left = await leftovers(db, dataDir);

      server = await startChild(dataDir, databaseUrl, SINGLE_NODE);
      const facts = await expectConsistent(db, dataDir, server, sources, []);
      expect(facts.instances.length).toBeGreaterThanOrEqual(KILL_AFTER);
      console.warn(
        `STOW-RS crash: ${stream.sent()} parts sent, ${facts.instances.length} in the catalog; ` +
          `killed ${midWrite ? 'once an uncommitted object had all its bytes' : 'at some moment'}; ` +
          `${left.orphans} orphan object(s) at the crash, all swept at the restart`,
      );

      // Sending the whole request again converges: 200, every instance there once, byte for byte.
      const again = streamStow(server, plan, sources);
      expect(await again.status).toBe(200);
      const after = await expectConsistent(db, dataDir, server, sources, [...sources.keys()]);
      expect(after.instances).toHaveLength(INSTANCES);
      await server.stop();
    } finally {
      await db.end();
      await server.kill9();
    }
  }, 240_000);
});
