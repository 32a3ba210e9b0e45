/**
 * Audit trail benchmark (part of `npm run bench` as BENCH_PROTOCOLS=audit, also alone:
 * `node dist/bench/audit.js`). A fresh embedded PostgreSQL, migrated by opening the database as
 * Strata does, gets a synthetic trail of BENCH_AUDIT_ROWS rows (default 1 million) over 2025: the
 * chain computed in Node exactly as strata_audit_append would (canonical encoding, SHA-256 link
 * with the position), written in batches with INSERT ... SELECT FROM unnest(...), with a signed
 * checkpoint every 10000 rows as the server's default configuration would sign them. Then, in an
 * app context with the audit modules (as `strata audit` builds it):
 *   - `TrailVerifier.verify()` over the whole trail (target < 30 s), which must say valid;
 *   - filtered searches through `AuditService.list` (target < 50 ms): one patient's events in a
 *     year (the issue's example), one study's, one actor's in a month, one action in a day, the
 *     failures in a month; each the median of repeated runs over different values, first page
 *     of 100 rows;
 *   - the audit append's marginal cost inside an ingest's transaction (see `appendCost`), set
 *     against the latest C-STORE result in bench/results: an estimate of auditing's share of
 *     ingest, since the archive has no switch that turns auditing off.
 * Written to bench/results/<date>-audit-<git>.md|json.
 *
 *   BENCH_AUDIT_ROWS=1000000   synthetic rows
 *   BENCH_TMPDIR=<os tmpdir>   where the fresh data dir (and its PostgreSQL) goes
 *   BENCH_KEEP=1               keep that directory
 */
import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AuditEvent,
  AuditModule,
  AuditService,
  AuditTrailModule,
  canonicalEncoding,
  ChainCrypto,
  CheckpointService,
  TrailVerifier,
  type TrailVerification,
} from '../src/audit/index.js';
// The SQL of a time range's positions, for the plan shown in the report (an internal of audit).
import { positionsOf } from '../src/audit/time-bounds.js';
import { ConfigModule, loadConfig, type StrataConfig } from '../src/config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../src/database/index.js';
import { StorageModule } from '../src/storage/index.js';
import { positiveInt } from './processes.js';
import { describeMachine, gitState } from './report.js';

const log = (line: string) => console.error(`[bench:audit] ${line}`);

const VERIFY_TARGET_S = 30;
const QUERY_TARGET_MS = 50;
const BATCH = 10_000;
const CHECKPOINT_EVERY = 10_000;
const YEAR_START = Date.UTC(2025, 0, 1);
const YEAR_MS = 365 * 86_400_000;
const PATIENTS = 50_000;
const ACTORS = [
  ...Array.from({ length: 12 }, (_, i) => ({
    actor: `MOD_${i}`,
    role: null,
    host: `10.20.1.${i}`,
  })),
  ...Array.from({ length: 6 }, (_, i) => ({
    actor: `PACS_${i}`,
    role: 'pacs',
    host: `10.20.2.${i}`,
  })),
  ...Array.from({ length: 40 }, (_, i) => ({
    actor: `user${i}`,
    role: i < 4 ? 'auditor' : i < 8 ? 'archivist' : 'admin',
    host: `10.30.0.${i}`,
  })),
];

@Module({})
class AuditBenchModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: AuditBenchModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        AuditModule,
        AuditTrailModule.forRoot({ schedule: false, signer: StorageModule }),
      ],
    };
  }
}

/** A deterministic pseudo-random sequence (xorshift32), so runs generate the same trail. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/** The i-th synthetic event: mostly stores, then queries and retrievals, a few of the rest. */
function syntheticEvent(i: number, rnd: () => number): AuditEvent {
  const patient = Math.floor(rnd() * PATIENTS);
  const study = `1.2.826.0.1.3680043.10.543.9.${patient}.${Math.floor(rnd() * 3)}`;
  const r = rnd();
  const a = r < 0.72 ? ACTORS[Math.floor(rnd() * 12)]! : ACTORS[12 + Math.floor(rnd() * 46)]!;
  const base = { actor: a.actor, actorHost: a.host, role: a.role, patientId: `BENCH${patient}` };
  if (r < 0.72) {
    return {
      ...base,
      action: 'instance.stored',
      outcome: rnd() < 0.002 ? 'failure' : 'success',
      studyInstanceUid: study,
      instances: 1,
      detail: {
        adapter: 'dimse-push',
        source: a.actor,
        sopInstanceUid: `${study}.${i}`,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        bytes: 520_000 + Math.floor(rnd() * 10_000),
      },
    };
  }
  const action = r < 0.87 ? 'study.queried' : r < 0.97 ? 'study.retrieved' : 'study.moved';
  return {
    ...base,
    action,
    outcome: rnd() < 0.01 ? 'failure' : 'success',
    studyInstanceUid: study,
    instances: action === 'study.queried' ? null : 1 + Math.floor(rnd() * 200),
    detail: { protocol: rnd() < 0.5 ? 'DIMSE' : 'DICOMweb', level: 'STUDY' },
  };
}

/** Writes the synthetic trail; returns the seconds it took. */
async function generate(app: INestApplicationContext, db: Database, rows: number): Promise<number> {
  const crypto = new ChainCrypto();
  const checkpoints = app.get(CheckpointService);
  const rnd = random(2026);
  const started = performance.now();
  let prev: Buffer = Buffer.alloc(32);
  for (let first = 1; first <= rows; first += BATCH) {
    const n = Math.min(BATCH, rows - first + 1);
    const cols = {
      seq: [] as number[],
      at: [] as string[],
      actor: [] as string[],
      host: [] as (string | null)[],
      role: [] as (string | null)[],
      action: [] as string[],
      outcome: [] as string[],
      patient: [] as (string | null)[],
      study: [] as (string | null)[],
      instances: [] as (number | null)[],
      detail: [] as (string | null)[],
      prev: [] as Buffer[],
      hash: [] as Buffer[],
    };
    for (let seq = first; seq < first + n; seq++) {
      // Times in chain order over the year, as an archive receiving all year long would have them.
      const at = new Date(YEAR_START + Math.floor(((seq - 1) / rows) * YEAR_MS)).toISOString();
      const e = syntheticEvent(seq, rnd);
      const hash = crypto.linkHash(prev, seq, canonicalEncoding(at, e));
      cols.seq.push(seq);
      cols.at.push(at);
      cols.actor.push(e.actor);
      cols.host.push(e.actorHost ?? null);
      cols.role.push(e.role ?? null);
      cols.action.push(e.action);
      cols.outcome.push(e.outcome);
      cols.patient.push(e.patientId ?? null);
      cols.study.push(e.studyInstanceUid ?? null);
      cols.instances.push(e.instances ?? null);
      cols.detail.push(e.detail ? JSON.stringify(e.detail) : null);
      cols.prev.push(prev);
      cols.hash.push(hash);
      prev = hash;
    }
    await db.query(
      `INSERT INTO audit_events (seq, at, actor, actor_host, role, action, outcome, patient_id,
                                 study_instance_uid, instances, detail, prev_hash, hash)
       SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                            $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::jsonb[],
                            $12::bytea[], $13::bytea[])`,
      Object.values(cols),
    );
    if ((first + n - 1) % CHECKPOINT_EVERY === 0) await checkpoints.checkpointNow();
    if ((first + n - 1) % 100_000 === 0) {
      log(`  ${first + n - 1} rows, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  return (performance.now() - started) / 1000;
}

interface QueryFigure {
  name: string;
  filter: string;
  runs: number;
  medianMs: number;
  maxMs: number;
  medianRows: number;
  pass: boolean;
}

async function timeQueries(
  audit: AuditService,
  db: Database,
): Promise<{ queries: QueryFigure[]; plan: string }> {
  const rnd = random(7);
  const month = (m: number) => ({
    from: new Date(Date.UTC(2025, m, 1)).toISOString(),
    to: new Date(Date.UTC(2025, m + 1, 1)).toISOString(),
  });
  const year = { from: '2025-01-01T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' };
  const cases: { name: string; filter: string; make: () => Parameters<AuditService['list']>[0] }[] =
    [
      {
        name: "one patient's events in a year",
        filter: 'patientId, from, to',
        make: () => ({ patientId: `BENCH${Math.floor(rnd() * PATIENTS)}`, ...year, limit: 100 }),
      },
      {
        name: 'who retrieved one patient in a year',
        filter: 'patientId, action list, from, to',
        make: () => ({
          patientId: `BENCH${Math.floor(rnd() * PATIENTS)}`,
          actions: ['study.retrieved', 'study.moved'],
          ...year,
          limit: 100,
        }),
      },
      {
        name: "one study's events",
        filter: 'studyInstanceUid',
        make: () => ({
          studyInstanceUid: `1.2.826.0.1.3680043.10.543.9.${Math.floor(rnd() * PATIENTS)}.${Math.floor(rnd() * 3)}`,
          limit: 100,
        }),
      },
      {
        name: "one user's events in a month",
        filter: 'actor, from, to',
        make: () => ({
          actor: `user${Math.floor(rnd() * 40)}`,
          ...month(Math.floor(rnd() * 12)),
          limit: 100,
        }),
      },
      {
        name: 'one action in a month (first page)',
        filter: 'action, from, to',
        make: () => ({
          actions: ['study.retrieved'],
          ...month(Math.floor(rnd() * 12)),
          limit: 100,
        }),
      },
      {
        name: 'failures in a month',
        filter: 'outcome, from, to',
        make: () => ({ outcome: 'failure', ...month(Math.floor(rnd() * 12)), limit: 100 }),
      },
    ];
  const queries: QueryFigure[] = [];
  for (const c of cases) {
    const times: number[] = [];
    const counts: number[] = [];
    for (let run = 0; run < 41; run++) {
      const filter = c.make();
      const t = performance.now();
      const rows = await audit.list(filter);
      if (run > 0) {
        // The first run warms the plan cache and the pages: not counted.
        times.push(performance.now() - t);
        counts.push(rows.length);
      }
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    queries.push({
      name: c.name,
      filter: c.filter,
      runs: times.length,
      medianMs: median,
      maxMs: sorted[sorted.length - 1]!,
      medianRows: [...counts].sort((a, b) => a - b)[Math.floor(counts.length / 2)]!,
      pass: median < QUERY_TARGET_MS,
    });
    log(
      `  ${c.name}: median ${median.toFixed(2)} ms, max ${sorted[sorted.length - 1]!.toFixed(2)} ms`,
    );
  }
  // The statement AuditRepository.list runs for it (the time range as positions, then the rows).
  const { lo, hi } = positionsOf('$2::timestamptz', '$3::timestamptz');
  const plan = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) SELECT seq FROM audit_events
      WHERE patient_id = $1 AND at >= $2::timestamptz AND seq >= (SELECT ${lo})
        AND at < $3::timestamptz AND seq <= (SELECT ${hi})
      ORDER BY seq LIMIT 100`,
    ['BENCH123', year.from, year.to],
  );
  return { queries, plan: plan.map((r) => r['QUERY PLAN']).join('\n') };
}

/**
 * The append's marginal cost inside an ingest: strata_ingest_instance appends in the statement
 * that records the instance (a call from PL/pgSQL, in a transaction that commits anyway), so what
 * auditing adds is the append's own work (chain lock, head lookup, hash, row and index inserts)
 * and the canonical encoding in Node. Timed the same way: one statement calling the function for
 * each of `appends` events on the full table (rolled back), less the same statement without the
 * call; and the encoding alone.
 */
async function appendCost(
  db: Database,
): Promise<{ sqlUs: number; encodeUs: number; appends: number }> {
  const appends = 5000;
  const rnd = random(99);
  const events = Array.from({ length: appends }, (_, i) => syntheticEvent(i, rnd));
  const at = new Date().toISOString();
  let t = performance.now();
  const canonicals = events.map((e) => canonicalEncoding(at, e));
  const encodeUs = ((performance.now() - t) * 1000) / appends;
  const arrays = [
    events.map((e) => e.actor),
    events.map((e) => e.actorHost ?? null),
    events.map((e) => e.role ?? null),
    events.map((e) => e.action),
    events.map((e) => e.outcome),
    events.map((e) => e.patientId ?? null),
    events.map((e) => e.studyInstanceUid ?? null),
    events.map((e) => e.instances ?? null),
    events.map((e) => JSON.stringify(e.detail)),
    canonicals,
  ];
  const from = `unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::int[], $9::jsonb[], $10::text[])
                  AS e(actor, host, role, action, outcome, patient, study, instances, detail, canonical)`;
  let withAppend = 0;
  let without = 0;
  await db
    .transaction(async (tx) => {
      t = performance.now();
      await tx.query(`SELECT count(*) FROM (SELECT e.canonical FROM ${from}) x`, arrays);
      without = performance.now() - t;
      t = performance.now();
      await tx.query(
        `SELECT count(*) FROM (
           SELECT strata_audit_append(now(), e.actor, e.host, e.role, e.action, e.outcome, e.patient,
                                      e.study, e.instances, e.detail, e.canonical)
             FROM ${from}) x`,
        arrays,
      );
      withAppend = performance.now() - t;
      throw new RollBack();
    })
    .catch((e: unknown) => {
      if (!(e instanceof RollBack)) throw e;
    });
  return { sqlUs: ((withAppend - without) * 1000) / appends, encodeUs, appends };
}

class RollBack extends Error {}

/** Strata's C-STORE small-instance rate from the newest ingest result, for the estimate. */
function latestIngest(root: string): { file: string; instancesPerSecond: number } | null {
  const dir = join(root, 'bench', 'results');
  if (!existsSync(dir)) return null;
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-z]+\.json$/.test(f))
    .sort()
    .reverse();
  for (const f of files) {
    const report = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      summaries?: {
        receiver: string;
        protocol: string;
        dataset: string;
        instancesPerSecond: number | null;
      }[];
    };
    const s = report.summaries?.find(
      (x) => x.receiver === 'strata' && x.protocol === 'C-STORE' && x.dataset === 'small52k',
    );
    if (s?.instancesPerSecond) return { file: f, instancesPerSecond: s.instancesPerSecond };
  }
  return null;
}

export interface AuditFigures {
  rows: number;
  generationSeconds: number;
  settleSeconds: number;
  checkpoints: number;
  verify: {
    seconds: number;
    valid: boolean;
    rowsChecked: number;
    checkpointsChecked: number;
    pass: boolean;
  };
  queries: QueryFigure[];
  plan: string;
  append: {
    sqlUs: number;
    encodeUs: number;
    appends: number;
    ingest: { file: string; instancesPerSecond: number; msPerInstance: number } | null;
    estimatedShare: number | null;
  };
}

function markdown(
  date: string,
  head: string,
  f: AuditFigures,
  postgres: Record<string, string>,
): string {
  const int = (n: number) => n.toLocaleString('en-US');
  const a = f.append;
  return `# Strata audit trail benchmark, ${date}

${head}
Embedded PostgreSQL ${postgres.version} as Strata starts it (shared_buffers ${postgres.sharedBuffers}, work_mem ${postgres.workMem}), fresh, a child of the benchmark's process; app context with AuditModule and AuditTrailModule (as \`strata audit\` builds it).

Synthetic trail: ${int(f.rows)} rows over 2025 (${int(PATIENTS)} patients, ${ACTORS.length} actors; 72 % instance.stored, 15 % study.queried, 10 % study.retrieved, 3 % study.moved), the hash chain computed as strata_audit_append computes it, ${f.checkpoints} signed checkpoints (one every ${int(CHECKPOINT_EVERY)} rows, the default), written in ${f.generationSeconds.toFixed(1)} s; VACUUM (ANALYZE) ${f.settleSeconds.toFixed(1)} s.

| step | figure | target | result |
| --- | ---: | --- | --- |
| \`strata audit verify\` (TrailVerifier.verify) over ${int(f.verify.rowsChecked)} rows and ${f.verify.checkpointsChecked} checkpoints | ${f.verify.seconds.toFixed(2)} s, valid: ${f.verify.valid} | < ${VERIFY_TARGET_S} s | ${f.verify.pass ? 'pass' : 'FAIL'} |
${f.queries
  .map(
    (q) =>
      `| search: ${q.name} (${q.filter}; first page of 100, median of ${q.runs}, max ${q.maxMs.toFixed(1)} ms, median ${q.medianRows} rows) | ${q.medianMs.toFixed(2)} ms | < ${QUERY_TARGET_MS} ms | ${q.pass ? 'pass' : 'FAIL'} |`,
  )
  .join('\n')}

Auditing's share of ingest (an estimate; the archive cannot turn auditing off, so there is no off run): an ingest appends its audit row in the statement that records the instance (strata_ingest_instance), so what auditing adds is the append's SQL work in a transaction that commits anyway, and the canonical encoding in Node. Measured on the ${int(f.rows)}-row table, ${int(a.appends)} appends made by one statement (as strata_ingest_instance makes its one), less the same statement without them: ${a.sqlUs.toFixed(0)} µs of database work and ${a.encodeUs.toFixed(1)} µs of encoding per append.${
    a.ingest
      ? ` Against the newest C-STORE result (${a.ingest.file}: ${a.ingest.instancesPerSecond.toFixed(0)} small instances/s over one association, ${a.ingest.msPerInstance.toFixed(2)} ms each), that is about ${(a.estimatedShare! * 100).toFixed(1)} % of an instance's ingest (target < 5 %).`
      : ' No C-STORE result was found in bench/results to set it against.'
  }

Plan of the patient-in-a-year search (after the runs):

\`\`\`
${f.plan}
\`\`\`
`;
}

export async function runAuditBench(root: string): Promise<{ md: string; json: string }> {
  const rows = positiveInt('BENCH_AUDIT_ROWS', 1_000_000);
  const work = mkdtempSync(
    join(process.env.BENCH_TMPDIR?.trim() || tmpdir(), 'strata-bench-audit-'),
  );
  // The embedded PostgreSQL runs as 'postgres' when we are root: it must traverse this folder.
  chmodSync(work, 0o755);
  const keep = process.env.BENCH_KEEP === '1';
  try {
    const dataDir = join(work, 'strata');
    await mkdir(dataDir, { recursive: true });
    const config = loadConfig({
      STRATA_DATA_DIR: dataDir,
      STRATA_POLICIES_DIR: join(root, 'policies'),
      STRATA_KEY_PASSPHRASE: 'bench-passphrase',
      STRATA_LOG_LEVEL: 'warn',
    });
    const opened = await openDatabase(config, { log, warn: log }, { owner: true });
    let app: INestApplicationContext | undefined;
    try {
      app = await NestFactory.createApplicationContext(
        AuditBenchModule.forRoot(config, opened.database),
        {
          logger: ['error', 'warn'],
        },
      );
      const db = opened.database;
      const [pg] = await db.query<Record<string, string>>(
        `SELECT current_setting('server_version') AS version,
                current_setting('shared_buffers') AS "sharedBuffers",
                current_setting('work_mem') AS "workMem"`,
      );
      // Opening the key ring appended its own rows: start the synthetic trail on an empty table.
      await db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate');
      await db.query('TRUNCATE audit_events');
      await db.query('ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate');
      log(`generating ${rows} audit rows`);
      const generationSeconds = await generate(app, db, rows);
      log(`generated in ${generationSeconds.toFixed(1)} s`);
      let t = performance.now();
      await db.query('VACUUM (ANALYZE) audit_events');
      await db.query('CHECKPOINT').catch((e: unknown) => log(`no CHECKPOINT: ${String(e)}`));
      const settleSeconds = (performance.now() - t) / 1000;
      // One append through the real path, on top of the generated chain.
      const audit = app.get(AuditService);
      await audit.recordAlone({ actor: 'bench', action: 'bench.generated', outcome: 'success' });

      log('verifying the trail');
      t = performance.now();
      const result: TrailVerification = await app.get(TrailVerifier).verify();
      const verifySeconds = (performance.now() - t) / 1000;
      log(
        `verify: ${verifySeconds.toFixed(2)} s, valid ${result.valid}, ${result.rowsChecked} rows`,
      );
      if (!result.valid) log(`problems: ${JSON.stringify(result.problems.slice(0, 5))}`);

      log('timing searches');
      const { queries, plan } = await timeQueries(audit, db);
      log('timing the append');
      const cost = await appendCost(db);
      const ingestRef = latestIngest(root);
      const msPerInstance = ingestRef ? 1000 / ingestRef.instancesPerSecond : null;
      const figures: AuditFigures = {
        rows,
        generationSeconds,
        settleSeconds,
        checkpoints: result.checkpoints.checked,
        verify: {
          seconds: verifySeconds,
          valid: result.valid,
          rowsChecked: result.rowsChecked,
          checkpointsChecked: result.checkpoints.checked,
          pass: result.valid && verifySeconds < VERIFY_TARGET_S,
        },
        queries,
        plan,
        append: {
          ...cost,
          ingest: ingestRef && { ...ingestRef, msPerInstance: msPerInstance! },
          estimatedShare: msPerInstance
            ? (cost.sqlUs + cost.encodeUs) / 1000 / msPerInstance
            : null,
        },
      };
      const date = new Date().toISOString();
      const git = await gitState(root);
      const machine = await describeMachine();
      const head =
        `git: ${git.label}; ${machine.cpuModel} × ${machine.cpuCount}, ${machine.totalMemoryGB} GB, ` +
        `${machine.os}, kernel ${machine.kernel}, Node ${machine.node}.`;
      const md = markdown(date, head, figures, pg!);
      const dir = join(root, 'bench', 'results');
      await mkdir(dir, { recursive: true });
      const stamp = date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
      const base = join(dir, `${stamp}-audit-${git.label}`);
      await writeFile(
        `${base}.json`,
        `${JSON.stringify({ date, git, machine, postgres: pg, targets: { verifySeconds: VERIFY_TARGET_S, queryMs: QUERY_TARGET_MS }, ...figures }, null, 2)}\n`,
      );
      await writeFile(`${base}.md`, md);
      console.log(md);
      if (!figures.verify.pass || queries.some((q) => !q.pass)) process.exitCode = 1;
      return { md: `${base}.md`, json: `${base}.json` };
    } finally {
      await app?.close();
      await opened.close();
    }
  } finally {
    if (keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

const isMain = resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  runAuditBench(root).catch((error: unknown) => {
    console.error(`[bench:audit] ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 1;
  });
}
