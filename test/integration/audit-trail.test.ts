import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditBundle,
  type AuditEvent,
  type AuditRow,
  canonicalEncoding,
  ChainCrypto,
  CheckpointService,
  parseBundle,
  TrailVerifier,
  type TrailVerification,
  verifyBundle,
} from '../../src/audit/index.js';
import { AuditTrailRepository } from '../../src/audit/trail/audit-trail.repository.js';
import { createDataSource, migrate } from '../../src/database/index.js';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { cli } from '../support/cli.js';
import { buildServer, removeServerBuild } from '../support/crash-child.js';
import {
  removeDataDir,
  startTestStrata,
  testEnv,
  type TestStrata,
} from '../support/strata-harness.js';
import { stow } from '../support/stow-client.js';
import { createTestDatabase } from '../support/test-database.js';

/** No checkpoint from the server's own schedule during the test: the test makes them. */
const CONFIG = 'audit:\n  checkpointEvery: { rows: 1000000, minutes: 10000 }\n';

/** Appends as AuditRepository does (strata_audit_append), at a chosen time. */
async function append(db: pg.Client, e: AuditEvent, at: string): Promise<void> {
  await db.query('SELECT strata_audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
    at,
    e.actor,
    e.actorHost ?? null,
    e.role ?? null,
    e.action,
    e.outcome,
    e.patientId ?? null,
    e.studyInstanceUid ?? null,
    e.instances ?? null,
    e.detail ? JSON.stringify(e.detail) : null,
    canonicalEncoding(at, e),
  ]);
}

describe('audit trail: tamper evidence, checkpoints, auditor queries, offline-verifiable export', () => {
  let s: TestStrata;
  /** A superuser's connection, as someone tampering with the database directly. */
  let admin: pg.Client;
  let work: string;
  let env: Record<string, string>;
  const get = (path: string) =>
    fetch(`${s.httpUrl}${path}`, { headers: { authorization: s.auth } });
  const verify = () => s.running.app.get(TrailVerifier).verify();

  /** Runs SQL with the append-only triggers off, then puts the trail back as it was. */
  async function tampered(sql: string[], check: (r: TrailVerification) => void | Promise<void>) {
    await admin.query('ALTER TABLE audit_events DISABLE TRIGGER ALL');
    await admin.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL');
    try {
      for (const q of sql) await admin.query(q);
      await check(await verify());
    } finally {
      await admin.query('DELETE FROM audit_events');
      await admin.query('INSERT INTO audit_events SELECT * FROM audit_backup');
      await admin.query('DELETE FROM audit_checkpoints');
      await admin.query('INSERT INTO audit_checkpoints SELECT * FROM checkpoint_backup');
      await admin.query('ALTER TABLE audit_events ENABLE TRIGGER ALL');
      await admin.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER ALL');
      for (const [table, trigger] of [
        ['audit_events', 'audit_events_no_update'],
        ['audit_events', 'audit_events_no_truncate'],
        ['audit_checkpoints', 'audit_checkpoints_no_update'],
        ['audit_checkpoints', 'audit_checkpoints_no_truncate'],
      ]) {
        await admin.query(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${trigger}`);
      }
    }
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-audit-'));
    // A trail from before the server started, 2024-12-30 .. 2026-01-25: three patients, their
    // studies stored, queried and retrieved (written as strata_audit_append would have, at those
    // times: the function itself stamps rows with the database's clock).
    const databaseUrl = await createTestDatabase();
    const ds = createDataSource(databaseUrl, 2);
    await ds.initialize();
    await migrate(ds);
    await ds.destroy();
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const crypto = new ChainCrypto();
    let prev: Buffer = Buffer.alloc(32);
    for (let day = 0; day < 40; day++) {
      const at = new Date(Date.UTC(2024, 11, 30) + day * 10 * 86_400_000).toISOString();
      const e: AuditEvent = {
        actor: day % 4 === 0 ? 'viewer-token' : 'CT_SOMATOM1',
        actorHost: '10.1.2.3',
        role: day % 4 === 0 ? 'auditor' : 'pacs',
        action: ['instance.stored', 'study.queried', 'study.retrieved'][day % 3]!,
        outcome: day === 7 ? 'failure' : 'success',
        patientId: `PAT-${day % 3}`,
        studyInstanceUid: `1.2.826.0.1.3680043.10.543.${day % 6}`,
        instances: day % 5,
        detail: { protocol: 'DIMSE', note: `day ${day}`, nested: { z: 1, a: [day] } },
      };
      const hash = crypto.linkHash(prev, day + 1, canonicalEncoding(at, e));
      await admin.query(
        `INSERT INTO audit_events (seq, at, actor, actor_host, role, action, outcome, patient_id,
                                   study_instance_uid, instances, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          day + 1,
          at,
          e.actor,
          e.actorHost,
          e.role,
          e.action,
          e.outcome,
          e.patientId,
          e.studyInstanceUid,
          e.instances,
          JSON.stringify(e.detail),
          prev,
          hash,
        ],
      );
      prev = hash;
    }
    s = await startTestStrata({ configYaml: CONFIG, databaseUrl });
    writeFileSync(join(work, 'strata.config.yaml'), CONFIG);
    env = testEnv(s.dataDir, s.databaseUrl, { STRATA_CONFIG: join(work, 'strata.config.yaml') });
    // And rows as the archive writes them: stores (strata_ingest_instance), a QIDO-RS search.
    const instances = [1, 2, 3].map(() => makeInstance({ patientId: 'PAT-STOW' }));
    expect(
      (
        await stow(
          s.httpUrl,
          s.auth,
          instances.map((i) => i.part10),
        )
      ).status,
    ).toBe(200);
    expect((await get('/dicomweb/studies?PatientID=PAT-STOW')).status).toBe(200);
    await buildServer();
  }, 240_000);

  afterAll(async () => {
    await admin?.end();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
    removeServerBuild();
    rmSync(work, { recursive: true, force: true });
  });

  it('an untouched trail verifies, over HTTP and from the CLI, with its checkpoint', async () => {
    // The chain's time is the database's, never before the head's, whatever the caller says.
    await append(
      admin,
      { actor: 'late', action: 'test.appended', outcome: 'success' },
      '2020-01-01T00:00:00.000Z',
    );
    const { rows: tail } = await admin.query<{ at: Date }>(
      'SELECT at FROM audit_events ORDER BY seq DESC LIMIT 2',
    );
    expect(tail[0]!.at.getTime()).toBeGreaterThanOrEqual(tail[1]!.at.getTime());
    expect(tail[0]!.at.getUTCFullYear()).toBeGreaterThan(2020);
    const checkpoint = await s.running.app.get(CheckpointService).checkpointNow();
    expect(checkpoint).not.toBeNull();
    const res = await get('/api/audit/verify');
    expect(res.status).toBe(200);
    const body = (await res.json()) as TrailVerification;
    expect(body).toMatchObject({
      valid: true,
      problems: [],
      firstBrokenLink: null,
      missing: [],
      altered: [],
      added: [],
      reordered: [],
      legacyRows: 0,
    });
    expect(body.rowsChecked).toBeGreaterThanOrEqual(40);
    // Also the server's own: its oldest unsigned row (2024) was older than checkpointEvery.minutes.
    expect(body.checkpoints.invalid).toEqual([]);
    expect(body.checkpoints.valid).toBe(body.checkpoints.checked);
    expect(body.checkpoints.latest?.seq).toBe(checkpoint!.seq);
    expect(body.protection.role).toBeTruthy();
    const run = await cli(['audit', 'verify'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/audit trail VALID: \d+ rows/);
    expect(run.stdout).toMatch(/checkpoints: (\d+) of \1 signatures verified/);
    // The rows appended since (the verifications themselves) are not signed yet, and say so.
    expect((await verify()).uncoveredTail?.fromSeq).toBe(checkpoint!.seq + 1);
    // Nobody gets past the triggers without disabling them, not even with replication's role.
    await expect(
      admin.query('UPDATE audit_events SET actor = $1 WHERE seq = 1', ['x']),
    ).rejects.toThrow(/append-only/);
    await admin.query('SET session_replication_role = replica');
    await expect(admin.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(
      /append-only/,
    );
    await expect(admin.query('DELETE FROM audit_checkpoints')).rejects.toThrow(/append-only/);
    await admin.query('SET session_replication_role = origin');
  });

  it('an application role that owns nothing cannot switch the triggers off (README: roles)', async () => {
    const url = await createTestDatabase();
    const ds = createDataSource(url, 2);
    await ds.initialize();
    await migrate(ds);
    await ds.destroy();
    const role = `strata_app_${randomBytes(4).toString('hex')}`;
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    try {
      await owner.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-password-1'`);
      for (const grant of [
        `GRANT USAGE ON SCHEMA public TO ${role}`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
        `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${role}`,
        `REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM ${role}`,
      ]) {
        await owner.query(grant);
      }
      const appUrl = new URL(url);
      appUrl.username = role;
      appUrl.password = 'app-password-1';
      const app = new pg.Client({ connectionString: appUrl.toString() });
      await app.connect();
      try {
        await append(
          app,
          { actor: 'app', action: 'test.appended', outcome: 'success' },
          new Date().toISOString(),
        );
        await expect(app.query('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(
          /must be owner of table audit_events/,
        );
        await expect(app.query('SET session_replication_role = replica')).rejects.toThrow(
          /permission denied/,
        );
        await expect(app.query(`UPDATE audit_events SET actor = 'x'`)).rejects.toThrow(
          /permission denied/,
        );
        const sql = {
          query: async <T>(q: string, p?: unknown[]) => (await app.query(q, p)).rows as T[],
        };
        expect(await new AuditTrailRepository().protection(sql)).toMatchObject({
          role,
          superuser: false,
          ownsTable: false,
          triggers: {
            audit_events_no_update: 'always',
            audit_events_no_truncate: 'always',
            audit_checkpoints_no_update: 'always',
            audit_checkpoints_no_truncate: 'always',
          },
        });
      } finally {
        await app.end();
      }
    } finally {
      await owner.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await owner.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await owner.end();
    }
  });

  describe('tampering as a superuser with the triggers disabled', () => {
    beforeAll(async () => {
      await s.running.app.get(CheckpointService).checkpointNow();
      await admin.query('CREATE TABLE audit_backup AS SELECT * FROM audit_events');
      await admin.query('CREATE TABLE checkpoint_backup AS SELECT * FROM audit_checkpoints');
      expect((await verify()).valid).toBe(true);
    });

    it('an altered column', () =>
      tampered(["UPDATE audit_events SET patient_id = 'PAT-9' WHERE seq = 5"], (r) => {
        expect(r).toMatchObject({
          valid: false,
          altered: [5],
          missing: [],
          reordered: [],
          added: [],
        });
        expect(r.firstBrokenLink).toMatchObject({ kind: 'altered', seq: 5 });
      }));

    it('an altered time, detail or count', () =>
      tampered(
        [
          "UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = 3",
          `UPDATE audit_events SET detail = jsonb_set(detail, '{note}', '"edited"') WHERE seq = 8`,
          'UPDATE audit_events SET instances = 99 WHERE seq = 13',
        ],
        (r) => expect(r.altered).toEqual([3, 8, 13]),
      ));

    it('a deleted row', () =>
      tampered(['DELETE FROM audit_events WHERE seq = 7'], (r) => {
        expect(r).toMatchObject({ valid: false, missing: [{ fromSeq: 7, toSeq: 7 }], altered: [] });
        expect(r.firstBrokenLink?.message).toMatch(/seq 7 is missing/);
      }));

    it('two rows swapped', () =>
      tampered(
        [
          'UPDATE audit_events SET seq = -1 WHERE seq = 10',
          'UPDATE audit_events SET seq = 10 WHERE seq = 11',
          'UPDATE audit_events SET seq = 11 WHERE seq = -1',
        ],
        (r) => {
          expect(r).toMatchObject({ valid: false, missing: [], altered: [], added: [] });
          expect(r.reordered).toEqual([
            { seq: 10, belongsAt: 11 },
            { seq: 11, belongsAt: 10 },
          ]);
        },
      ));

    it('an inserted row, the later ones renumbered to make room', () =>
      tampered(
        [
          'UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 12',
          'UPDATE audit_events SET seq = seq - 999999 WHERE seq > 1000000',
          `INSERT INTO audit_events (seq, at, actor, action, outcome, patient_id, prev_hash, hash)
           SELECT 12, now(), 'mallory', 'study.retrieved', 'success', 'PAT-1', hash, '\\x${randomBytes(32).toString('hex')}'
             FROM audit_events WHERE seq = 11`,
        ],
        (r) => {
          expect(r).toMatchObject({ valid: false, added: [12], missing: [], altered: [] });
          expect(r.reordered[0]).toEqual({ seq: 13, belongsAt: 12 });
          expect(r.problems.map((p) => p.kind)).toEqual(['added', 'reordered']);
        },
      ));

    it('rows deleted at the end, under a signed checkpoint', () =>
      tampered(
        ['DELETE FROM audit_events WHERE seq > (SELECT max(seq) - 2 FROM audit_checkpoints)'],
        async (r) => {
          const [{ last }] = (
            await admin.query('SELECT max(seq)::int AS last FROM checkpoint_backup')
          ).rows as [{ last: number }];
          expect(r.valid).toBe(false);
          expect(r.missing).toEqual([{ fromSeq: last - 1, toSeq: last }]);
        },
      ));

    it('the chain rewritten after a checkpoint, every hash recomputed', async () => {
      const crypto = new ChainCrypto();
      const { rows } = await admin.query<{ seq: string; at: string; prev_hash: Buffer }>(
        `SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor,
                actor_host, role, action, outcome, patient_id, study_instance_uid, instances, detail
           FROM audit_events WHERE seq >= 20 ORDER BY seq`,
      );
      const [{ hash: start }] = (await admin.query('SELECT hash FROM audit_events WHERE seq = 19'))
        .rows as [{ hash: Buffer }];
      const sql: string[] = [];
      let prev = start;
      for (const r of rows as unknown as Record<string, unknown>[]) {
        const event: AuditEvent = {
          actor: r.seq === '20' ? 'mallory' : (r.actor as string),
          actorHost: r.actor_host as string,
          role: r.role as string,
          action: r.action as string,
          outcome: r.outcome as AuditEvent['outcome'],
          patientId: r.patient_id as string,
          studyInstanceUid: r.study_instance_uid as string,
          instances: r.instances as number,
          detail: r.detail as Record<string, unknown>,
        };
        const hash = crypto.linkHash(prev, Number(r.seq), canonicalEncoding(r.at as string, event));
        sql.push(
          `UPDATE audit_events SET actor = '${event.actor}', prev_hash = '\\x${prev.toString('hex')}',
             hash = '\\x${hash.toString('hex')}' WHERE seq = ${String(r.seq)}`,
        );
        prev = hash;
      }
      await tampered(sql, (r) => {
        // Every hash agrees with its row: only the signed checkpoints after seq 20 tell.
        expect(r).toMatchObject({
          valid: false,
          altered: [],
          missing: [],
          reordered: [],
          added: [],
        });
        expect(r.problems.length).toBeGreaterThan(0);
        expect(r.problems.every((p) => p.kind === 'checkpoint')).toBe(true);
        expect(r.firstBrokenLink?.message).toMatch(/rows up to seq \d+ were rewritten/);
      });
    });

    it('a forged checkpoint: changed hash, or signed with a key that is not the archive key', async () => {
      await tampered(
        [
          `UPDATE audit_checkpoints SET head_hash = '\\x${randomBytes(32).toString('hex')}'
            WHERE seq = (SELECT min(seq) FROM audit_checkpoints)`,
        ],
        (r) => {
          expect(r.valid).toBe(false);
          expect(r.checkpoints.invalid).toHaveLength(1);
          expect(r.checkpoints.invalid[0]!.problem).toMatch(/signature that does not verify/);
        },
      );
      const { privateKey } = await openpgp.generateKey({
        type: 'curve25519',
        userIDs: [{ name: 'mallory' }],
        format: 'object',
      });
      const [last] = (
        await admin.query<{ seq: string; hash: string }>(
          `SELECT seq, encode(hash, 'hex') AS hash FROM audit_events ORDER BY seq DESC LIMIT 1`,
        )
      ).rows;
      const at = new Date().toISOString();
      const text = `strata-audit-checkpoint/1\nseq: ${last!.seq}\nhash: ${last!.hash}\nat: ${at}\n`;
      const signature = await openpgp.sign({
        message: await openpgp.createMessage({ text }),
        signingKeys: privateKey,
        detached: true,
      });
      await tampered(
        [
          `DELETE FROM audit_checkpoints WHERE seq = ${last!.seq}`,
          `INSERT INTO audit_checkpoints VALUES (${last!.seq}, '\\x${last!.hash}', '${at}',
             '${signature as string}', '${privateKey.getFingerprint()}')`,
        ],
        (r) => {
          expect(r.valid).toBe(false);
          expect(r.checkpoints.invalid).toEqual([
            {
              seq: Number(last!.seq),
              problem: `is signed by ${privateKey.getFingerprint()}, which is not one of the archive's keys`,
            },
          ]);
        },
      );
    });

    it('HTTP says valid: false, and the CLI exits 1 naming the row', () =>
      tampered(["UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 2"], async () => {
        const res = await get('/api/audit/verify');
        const body = (await res.json()) as TrailVerification;
        expect(body).toMatchObject({ valid: false, altered: [2] });
        const run = await cli(['audit', 'verify'], env);
        expect(run.code).toBe(1);
        expect(run.stdout).toMatch(/audit trail INVALID/);
        expect(run.stdout).toMatch(/first broken link: seq 2 was altered/);
      }));
  });

  describe('export bundles, verified offline', () => {
    let text: string;
    let file: string;
    const write = (b: unknown) => {
      const f = join(work, `bundle-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(f, JSON.stringify(b));
      return f;
    };

    beforeAll(async () => {
      const res = await get('/api/audit/export?from=2025-01-01&to=2025-07-01');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="audit-bundle-/);
      text = await res.text();
      file = join(work, 'bundle.json');
      writeFileSync(file, text);
    });

    it('holds the range, the link before it, a covering checkpoint and the public key', async () => {
      const b = parseBundle(JSON.parse(text));
      expect(b.rows.length).toBeGreaterThan(10);
      // Times follow positions: the range is exactly the events in it.
      const [{ n }] = (
        await admin.query(
          `SELECT count(*)::int AS n FROM audit_events WHERE at >= '2025-01-01' AND at < '2025-07-01'`,
        )
      ).rows as [{ n: number }];
      expect(b.rows).toHaveLength(n);
      expect(b.rows.every((r) => r.at >= '2025-01-01' && r.at < '2025-07-01')).toBe(true);
      expect(b.rows.map((r) => r.seq)).toEqual(b.rows.map((_, i) => b.rows[0]!.seq + i));
      expect(b.previous?.seq).toBe(b.rows[0]!.seq - 1);
      expect(b.previous?.hash).toBe(b.rows[0]!.prevHash);
      const last = b.rows[b.rows.length - 1]!.seq;
      expect(b.checkpoints[b.checkpoints.length - 1]!.seq).toBeGreaterThanOrEqual(last);
      expect(b.publicKeys[0]!.armored).toMatch(/BEGIN PGP PUBLIC KEY BLOCK/);
      const result = await verifyBundle(new ChainCrypto(), b);
      expect(result).toMatchObject({ valid: true, covered: true, problems: [] });
    });

    it('strata audit verify --bundle checks it without a database or a server', async () => {
      const run = await cli(['audit', 'verify', '--bundle', file], {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
      });
      expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(run.stdout).toMatch(/^VALID: \d+ rows \(seq \d+ to \d+\), hash chain intact/);
    });

    it('a tampered row or signature fails with a precise message', async () => {
      const b = JSON.parse(text) as AuditBundle;
      const row = b.rows[3]!;
      const altered = {
        ...b,
        rows: b.rows.map((r, i) => (i === 3 ? { ...r, patientId: 'PAT-9' } : r)),
      };
      let run = await cli(['audit', 'verify', '--bundle', write(altered)], {});
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`INVALID: the bundle was altered.`);
      expect(run.stdout).toContain(`seq ${row.seq} was altered`);

      const cp = b.checkpoints[b.checkpoints.length - 1]!;
      const forged = {
        ...b,
        checkpoints: b.checkpoints.map((c) =>
          c === cp ? { ...c, at: new Date(Date.parse(c.at) + 1000).toISOString() } : c,
        ),
      };
      run = await cli(['audit', 'verify', '--bundle', write(forged), '--json'], {});
      expect(run.code).toBe(1);
      const json = JSON.parse(run.stdout) as { valid: boolean; problems: { message: string }[] };
      expect(json.valid).toBe(false);
      expect(json.problems.map((p) => p.message).join('\n')).toContain(
        `the checkpoint at seq ${cp.seq} has a signature that does not verify with the key ${cp.keyFingerprint} (`,
      );

      const removed = { ...b, rows: b.rows.filter((_, i) => i !== 5) };
      run = await cli(['audit', 'verify', '--bundle', write(removed)], {});
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`seq ${b.rows[5]!.seq} is missing`);
    });

    it('says clearly when no signed checkpoint covers the last row', async () => {
      const b = JSON.parse(text) as AuditBundle;
      const last = b.rows[b.rows.length - 1]!.seq;
      const uncovered = {
        ...b,
        checkpoints: b.checkpoints.filter((c) => c.seq < last),
        continuation: [],
      };
      const run = await cli(['audit', 'verify', '--bundle', write(uncovered)], {});
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /^NOT COVERED: the chain of the \d+ rows .* is intact, but no signed checkpoint/,
      );
    });

    it('refuses a file that is not a bundle, and a missing file is a usage error', async () => {
      let run = await cli(['audit', 'verify', '--bundle', write({ format: 'x' })], {});
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/is not a valid Strata audit bundle: format is "x"/);
      run = await cli(['audit', 'verify', '--bundle', join(work, 'nope.json')], {});
      expect(run.code).toBe(2);
    });
  });

  describe('auditor queries', () => {
    type Page = { events: AuditRow[]; next: number | null };

    it('who accessed patient PAT-1 in 2025: one call, paginated by position', async () => {
      const all: AuditRow[] = [];
      let url: string | null = '/api/audit?patientId=PAT-1&from=2025-01-01&to=2026-01-01&limit=4';
      while (url) {
        const res = await get(url);
        expect(res.status).toBe(200);
        const page = (await res.json()) as Page;
        all.push(...page.events);
        const link = res.headers.get('link');
        url = page.next === null ? null : /<([^>]+)>; rel="next"/.exec(link ?? '')![1]!;
      }
      expect(all.length).toBeGreaterThan(5);
      expect(all.every((e) => e.patientId === 'PAT-1' && e.at.startsWith('2025-'))).toBe(true);
      expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((a, b) => a - b));
      // The auditor's own search is in the trail too, with the patient it was about.
      const own = (await (
        await get('/api/audit?action=audit.queried&patientId=PAT-1')
      ).json()) as Page;
      expect(own.events.length).toBeGreaterThan(0);
      expect(own.events[0]!.detail).toMatchObject({
        format: 'json',
        filter: { from: '2025-01-01T00:00:00.000Z' },
      });
    });

    it('filters by actor, role, action list and outcome', async () => {
      const failures = (await (
        await get('/api/audit?outcome=failure&actor=CT_SOMATOM1')
      ).json()) as Page;
      expect(failures.events.map((e) => e.detail?.note)).toEqual(['day 7']);
      const viewer = (await (
        await get('/api/audit?role=auditor&action=study.queried,study.retrieved&limit=1000')
      ).json()) as Page;
      expect(viewer.events.length).toBeGreaterThan(0);
      expect(
        viewer.events.every(
          (e) => e.role === 'auditor' && ['study.queried', 'study.retrieved'].includes(e.action),
        ),
      ).toBe(true);
    });

    it('CSV and NDJSON stream every matching row', async () => {
      // Not the audit.* rows: each search adds one (about PAT-2) between the two requests.
      const only = 'action=instance.stored,study.queried,study.retrieved';
      const csv = await get(`/api/audit?patientId=PAT-2&${only}&format=csv`);
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      const lines = (await csv.text()).trimEnd().split('\r\n');
      expect(lines[0]).toBe(
        'seq,at,actor,actorHost,role,action,outcome,patientId,studyInstanceUid,instances,detail,prevHash,hash',
      );
      const nd = await get(`/api/audit?patientId=PAT-2&${only}&format=ndjson`);
      expect(nd.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const rows = (await nd.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditRow);
      expect(rows.length).toBe(lines.length - 1);
      expect(rows.every((r) => r.patientId === 'PAT-2')).toBe(true);
    });

    it('DICOM audit messages and FHIR AuditEvents, from the renderers', async () => {
      const dicom = await get('/api/audit?patientId=PAT-0&limit=2&format=dicom');
      expect(dicom.status).toBe(200);
      const xml = await dicom.text();
      expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<AuditMessages next="\d+">/);
      expect(xml.match(/<AuditMessage[ >]/g)).toHaveLength(2);
      const fhir = await get('/api/audit?patientId=PAT-0&limit=2&format=fhir');
      const bundle = (await fhir.json()) as {
        resourceType: string;
        entry: { resource: { resourceType: string } }[];
        link: { relation: string; url: string }[];
      };
      expect(bundle.resourceType).toBe('Bundle');
      expect(bundle.entry.map((e) => e.resource.resourceType)).toEqual([
        'AuditEvent',
        'AuditEvent',
      ]);
      expect(bundle.link[0]!.url).toMatch(/after=\d+/);
    });

    it('answers a bad parameter with RFC 9457 problem details', async () => {
      for (const [query, detail] of [
        ['from=yesterday', /from must be an ISO 8601 date/],
        ['patient=X', /unknown parameter 'patient'/],
        ['limit=0', /limit must be an integer/],
      ] as const) {
        const res = await get(`/api/audit?${query}`);
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as { detail: string }).detail).toMatch(detail);
      }
      expect((await get('/api/audit/export?from=2025-02-30')).status).toBe(400);
    });

    it('strata audit search: the same filters from the command line', async () => {
      const run = await cli(
        [
          'audit',
          'search',
          '--patient-id',
          'PAT-1',
          '--from',
          '2025-01-01',
          '--to',
          '2026-01-01',
          '--format',
          'ndjson',
        ],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      const rows = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditRow);
      expect(rows.length).toBeGreaterThan(5);
      expect(rows.every((r) => r.patientId === 'PAT-1' && r.at.startsWith('2025-'))).toBe(true);
      const bad = await cli(['audit', 'search', '--from', 'soon'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--from must be an ISO 8601 date/);
    });
  });
});
