import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import {
  type AuditEvent,
  canonicalEncoding,
  ChainCrypto,
  TrailVerifier,
} from '../../src/audit/index.js';
import { AuditRepository } from '../../src/audit/audit.repository.js';
import { AuditTrailRepository } from '../../src/audit/trail/audit-trail.repository.js';
import { createDataSource, Database, migrate } from '../../src/database/index.js';
import { createTestDatabase } from '../support/test-database.js';

/**
 * A trail begun before AuditTrail1764300011000 (rows hashed without their position, stamped with
 * their callers' times, a seq skipped by a rolled-back append) goes on after the upgrade: it
 * verifies, and searches by time find exactly the rows in range on both sides of the upgrade.
 */
describe('audit trail across the upgrade to position hashing', () => {
  let url: string;
  let ds: DataSource;
  let db: Database;
  const event = (n: number): AuditEvent => ({
    actor: `actor-${n % 2}`,
    action: 'study.queried',
    outcome: 'success',
    patientId: `UP-${n % 3}`,
    detail: { n },
  });
  const appendSql = async (sql: { query: DataSource['query'] }, e: AuditEvent, at: string) =>
    sql.query('SELECT strata_audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
      at,
      e.actor,
      null,
      null,
      e.action,
      e.outcome,
      e.patientId,
      null,
      null,
      JSON.stringify(e.detail),
      canonicalEncoding(at, e),
    ]);

  beforeAll(async () => {
    url = await createTestDatabase();
    const before = migrations.findIndex((m) => m.name.startsWith('AuditTrail'));
    const old = new DataSource({
      type: 'postgres',
      url,
      migrations: migrations.slice(0, before),
      migrationsTableName: 'migrations',
    });
    await old.initialize();
    await old.runMigrations();
    // Callers' times that step back, and an append rolled back (its seq is skipped).
    const times = [
      '2025-03-01T10:00:00.000Z',
      '2025-03-01T10:00:00.005Z',
      '2025-03-01T10:00:00.002Z',
    ];
    for (let i = 0; i < 3; i++) await appendSql(old, event(i), times[i]!);
    const runner = old.createQueryRunner();
    await runner.startTransaction();
    await appendSql(runner.manager, event(99), '2025-03-01T10:00:01.000Z');
    await runner.rollbackTransaction();
    await runner.release();
    await appendSql(old, event(3), '2025-03-02T00:00:00.000Z');
    await old.destroy();
    ds = createDataSource(url, 2);
    await ds.initialize();
    await migrate(ds);
    db = new Database(ds);
    const audit = new AuditRepository();
    for (let i = 4; i < 8; i++) await audit.append(db, event(i));
  });
  afterAll(async () => {
    await ds?.destroy();
  });

  it('verifies: legacy rows before, position-hashed rows after, the rolled-back gap allowed', async () => {
    const seqs = (await db.query<{ seq: string }>('SELECT seq FROM audit_events ORDER BY seq')).map(
      (r) => Number(r.seq),
    );
    expect(seqs).toEqual([1, 2, 3, 5, 6, 7, 8, 9]);
    const verifier = new TrailVerifier(db, new AuditTrailRepository(), new ChainCrypto(), {
      sign: () => Promise.reject(new Error('no key here')),
      publicKeys: async () => [],
    });
    const r = await verifier.verify();
    expect(r).toMatchObject({ valid: true, rowsChecked: 8, legacyRows: 4, problems: [] });
  });

  it('finds exactly the rows of a time range, legacy ones row by row', async () => {
    const audit = new AuditRepository();
    const count = async (from?: string, to?: string) => {
      const [{ n }] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events
          WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2)`,
        [from ?? null, to ?? null],
      );
      return n;
    };
    const ranges: [string | undefined, string | undefined][] = [
      ['2025-03-01T10:00:00.003Z', undefined],
      [undefined, '2025-03-01T10:00:00.003Z'],
      ['2025-03-01T10:00:00.001Z', '2025-03-01T10:00:00.004Z'],
      ['2025-03-02T00:00:00.000Z', undefined],
      ['2026-01-01T00:00:00.000Z', undefined],
      [undefined, '2025-01-01T00:00:00.000Z'],
    ];
    for (const [from, to] of ranges) {
      const rows = await audit.list(db, { from, to, limit: 100 });
      expect(rows.length, `${from} .. ${to}`).toBe(await count(from, to));
      // An export's span: every row of the range within it (among legacy rows, whose times step
      // back, it can hold a row of another time between two of the range).
      const span = await new AuditTrailRepository().seqRange(db, from ?? null, to ?? null);
      if (rows.length === 0) expect(span).toBeNull();
      else {
        expect(span!.firstSeq).toBeLessThanOrEqual(rows[0]!.seq);
        expect(span!.lastSeq).toBeGreaterThanOrEqual(rows[rows.length - 1]!.seq);
        if (rows[0]!.seq > 3)
          expect(span).toEqual({ firstSeq: rows[0]!.seq, lastSeq: rows.at(-1)!.seq });
      }
    }
  });
});
