/**
 * Lifecycle benchmark (part of `npm run bench`, also alone: `node dist/bench/lifecycle.js`): a
 * fresh embedded PostgreSQL, migrated by opening the database as Strata does, is filled with a
 * synthetic catalog written directly in SQL (set-based, one transaction: patients, studies,
 * series, instances, their versions, blobs and locations, with the studies' and series' counters
 * consistent); then, in an app context with the LifecycleModule (as the CLI builds it), the
 * shipped policies (policies/) are
 *   - simulated over 24 months: `SimulationService.run(24, null)`;
 *   - applied by a full retention sweep: `Sweeps.start('retention', 'bench')` until it finishes,
 *     with lifecycle.maxActionsPerSecond 0 (no rate limit) and the default batch size.
 * The tiering sweep is not run: it would queue moves of objects that do not exist. Target (issue):
 * under 60 s each at 1 million instances. Written to bench/results/<date>-lifecycle-<git>.md|json.
 *
 *   BENCH_LIFECYCLE_INSTANCES=1000000   synthetic instances (50 per study)
 *   BENCH_TMPDIR=<os tmpdir>            where the fresh data dir (and its PostgreSQL) goes
 *   BENCH_KEEP=1                        keep that directory
 */
import { type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TieringCliModule } from '../src/cli/tiering-app.js';
import { loadConfig } from '../src/config/index.js';
import { type Database, openDatabase, type Sql } from '../src/database/index.js';
import {
  SimulationService,
  type SimulationReport,
  Sweeps,
  type SweepResult,
} from '../src/lifecycle/index.js';
import { JobRepository } from '../src/tiering/index.js';
import { positiveInt } from './processes.js';
import { describeMachine, gitState } from './report.js';

const log = (line: string) => console.error(`[bench:lifecycle] ${line}`);

/** The issue's target for the simulation and for the sweep, each. */
const TARGET_SECONDS = 60;
const INSTANCES_PER_STUDY = 50;
const MONTHS = 24;

export interface CatalogFigures {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  bytes: number;
  holds: number;
  modalities: Record<string, number>;
  tiers: Record<string, number>;
  /** Patients without a birth date (no age rule applies to their studies). */
  patientsWithoutBirthDate: number;
  studiesNeverRead: number;
}

/**
 * What each modality's studies look like: three protocols each (description, body part), the
 * image size of one uncompressed instance and the AE titles that send them.
 */
const PROTOCOLS = `(VALUES
  ('CT', 0, 'CT CHEST W/O CONTRAST', 'CHEST', '1.2.840.10008.5.1.4.1.1.2', 512, 512, 526000, 'CT_SOMATOM1'),
  ('CT', 1, 'CT HEAD W/O CONTRAST', 'HEAD', '1.2.840.10008.5.1.4.1.1.2', 512, 512, 526000, 'CT_REVOLUTION'),
  ('CT', 2, 'CT ABDOMEN PELVIS W CONTRAST', 'ABDOMEN', '1.2.840.10008.5.1.4.1.1.2', 512, 512, 526000, 'CT_SOMATOM1'),
  ('MR', 0, 'MRI BRAIN W/WO CONTRAST', 'BRAIN', '1.2.840.10008.5.1.4.1.1.4', 256, 256, 133000, 'MR_PRISMA'),
  ('MR', 1, 'MRI KNEE RT W/O CONTRAST', 'KNEE', '1.2.840.10008.5.1.4.1.1.4', 384, 384, 296000, 'MR_AERA'),
  ('MR', 2, 'MRI LUMBAR SPINE W/O CONTRAST', 'LSPINE', '1.2.840.10008.5.1.4.1.1.4', 320, 320, 206000, 'MR_PRISMA'),
  ('CR', 0, 'XR CHEST 2 VIEWS', 'CHEST', '1.2.840.10008.5.1.4.1.1.1', 2048, 2500, 10241000, 'CR_ED_FUJI'),
  ('CR', 1, 'XR HAND 3 VIEWS LT', 'HAND', '1.2.840.10008.5.1.4.1.1.1', 1760, 2140, 7533000, 'DR_RAD2'),
  ('CR', 2, 'XR KNEE 2 VIEWS RT', 'KNEE', '1.2.840.10008.5.1.4.1.1.1', 2048, 2048, 8389000, 'DR_RAD2'),
  ('MG', 0, 'MAMMO SCREENING BILATERAL', 'BREAST', '1.2.840.10008.5.1.4.1.1.1.2', 3328, 2560, 17040000, 'MG_SELENIA'),
  ('MG', 1, 'MAMMO DIAGNOSTIC BILATERAL', 'BREAST', '1.2.840.10008.5.1.4.1.1.1.2', 3328, 2560, 17040000, 'MG_SELENIA'),
  ('MG', 2, 'MAMMO SCREENING BILATERAL W TOMO', 'BREAST', '1.2.840.10008.5.1.4.1.1.1.2', 4096, 3328, 27263000, 'MG_REVELATION'),
  ('US', 0, 'US ABDOMEN COMPLETE', 'ABDOMEN', '1.2.840.10008.5.1.4.1.1.6.1', 480, 640, 922000, 'US_LOGIQ'),
  ('US', 1, 'US THYROID', 'NECK', '1.2.840.10008.5.1.4.1.1.6.1', 480, 640, 922000, 'US_EPIQ'),
  ('US', 2, 'US CAROTID DOPPLER BILATERAL', 'NECK', '1.2.840.10008.5.1.4.1.1.6.1', 600, 800, 1441000, 'US_EPIQ')
) AS pr (modality, idx, description, body_part, sop_class, rows, cols, size, aet)`;

/** A made-up UID root for the synthetic catalog (UIDs are root.<kind>.<epoch>.<id>, about 48 chars). */
const ROOT = '1.2.826.0.1.3680043.10.543';

/**
 * The generation, statement by statement (one transaction, one connection: setseed makes it
 * repeatable). Plans go into temporary tables first (patients, studies, series), then every
 * catalog table is filled with one INSERT ... SELECT. Ids are given explicitly (the tables are
 * empty) and the sequences set after, so that the instance, its version, its blob and its
 * location share one id. Study ids follow the receive time, as in an archive that received them
 * one after the other, so a patient's studies (and their instances) are scattered over the tables.
 */
function generationSteps(instances: number): { label: string; sql: string }[] {
  const studies = Math.ceil(instances / INSTANCES_PER_STUDY);
  return [
    { label: 'seed', sql: 'SELECT setseed(0.2026)' },
    {
      // 1-5 studies a patient (2.5 on average), 3-5 for women screened by mammography.
      label: 'patient plan',
      sql: `
      CREATE TEMP TABLE bench_patients ON COMMIT DROP AS
      WITH c AS (
        SELECT g AS id,
               CASE WHEN random() < 0.03 THEN NULL
                    ELSE date '1930-01-01' + floor(random() * (date '2020-12-31' - date '1930-01-01' + 1))::int
               END AS birth,
               CASE WHEN random() < 0.53 THEN 'F' ELSE 'M' END AS sex,
               random() AS rk, random() AS rs
          FROM generate_series(1, ${studies}) g
      ), k AS (
        SELECT id, birth, sex, screening,
               CASE WHEN screening THEN 3 + floor(rk * 3)::int
                    WHEN rk < 0.30 THEN 1 WHEN rk < 0.55 THEN 2 WHEN rk < 0.75 THEN 3
                    WHEN rk < 0.90 THEN 4 ELSE 5 END AS n
          FROM (SELECT *, (sex = 'F' AND birth < date '1980-01-01' AND rs < 0.4) AS screening FROM c) s
      ), acc AS (
        SELECT *, sum(n) OVER (ORDER BY id) AS upto FROM k
      )
      SELECT id, birth, sex, coalesce(screening, false) AS screening,
             least(n, ${studies} - (upto - n))::int AS n
        FROM acc WHERE upto - n < ${studies}`,
    },
    {
      label: 'study plan',
      sql: `
      CREATE TEMP TABLE bench_studies ON COMMIT DROP AS
      WITH s AS (
        SELECT p.id AS patient, j, p.birth, p.sex, p.screening,
               greatest(date '2000-01-01', coalesce(p.birth, date '2000-01-01')) AS lo,
               random() AS rd, random() AS rm, random() AS rn, random() AS rp, random() AS rt,
               random() AS rr, random() AS ra, random() AS rl, random() AS rv, random() AS rx
          FROM bench_patients p, generate_series(1, p.n) j
      ), d AS (
        SELECT *, lo + floor(rd * (current_date - 1 - lo))::int AS study_date,
               CASE WHEN screening AND rm < 0.8 THEN 'MG'
                    WHEN rn < 0.35 THEN 'CT' WHEN rn < 0.55 THEN 'MR' WHEN rn < 0.85 THEN 'CR'
                    ELSE 'US' END AS modality
          FROM s
      ), r AS (
        SELECT d.*, pr.description, pr.body_part, pr.sop_class, pr.rows, pr.cols, pr.size, pr.aet,
               least(
                 (d.study_date + make_interval(secs => 25200 + rt * 43200))::timestamp AT TIME ZONE 'UTC'
                   + CASE WHEN rr < 0.05 THEN make_interval(days => floor(ra * 1000)::int)
                          ELSE make_interval(mins => 5 + floor(ra * 2880)::int) END,
                 now() - interval '1 hour') AS received_at
          FROM d JOIN ${PROTOCOLS} ON pr.modality = d.modality AND pr.idx = floor(d.rp * 3)::int
      )
      SELECT row_number() OVER (ORDER BY received_at, patient, j) AS id, r.*,
             CASE WHEN rl < 0.4 THEN NULL
                  ELSE received_at + (now() - received_at) * power((rl - 0.4) / 0.6, 2) END AS last_accessed_at,
             CASE WHEN rv < 0.85 THEN 'hot' WHEN rv < 0.96 THEN 'warm' ELSE 'cold' END AS tier,
             1 + floor(rx * 3)::int AS n_series
        FROM r`,
    },
    {
      // 50 instances a study (the last one takes the rest), in 1-3 series; a few series sit on
      // another tier than the rest of their study.
      label: 'series plan',
      sql: `
      CREATE TEMP TABLE bench_series ON COMMIT DROP AS
      WITH st AS (
        SELECT s.*, least(${INSTANCES_PER_STUDY}, ${instances} - (s.id - 1) * ${INSTANCES_PER_STUDY})::int AS cnt,
               '${ROOT}.1.' || extract(epoch FROM s.received_at)::bigint || '.' || s.id AS uid
          FROM bench_studies s
      ), se AS (
        SELECT st.id AS study, st.uid AS study_uid, k, st.cnt, least(st.n_series, st.cnt) AS n,
               st.modality, st.description, st.body_part, st.sop_class, st.rows, st.cols, st.aet,
               st.study_date, st.received_at,
               round(st.size * (0.85 + 0.3 * random()))::bigint AS inst_size,
               CASE WHEN random() >= 0.03 THEN st.tier WHEN st.tier = 'hot' THEN 'warm' ELSE 'hot' END AS tier
          FROM st, generate_series(1, least(st.n_series, st.cnt)) k
      )
      SELECT row_number() OVER (ORDER BY study, k) AS id, se.*,
             ((k * cnt) / n - ((k - 1) * cnt) / n)::int AS instances,
             (study - 1) * ${INSTANCES_PER_STUDY} + ((k - 1) * cnt) / n + 1 AS first_instance
        FROM se`,
    },
    { label: 'plan indexes', sql: 'CREATE INDEX ON bench_series (study); ANALYZE bench_series' },
    {
      label: 'patients',
      sql: `
      INSERT INTO patients (id, patient_key, patient_id, issuer_of_patient_id, patient_name,
                            patient_birth_date, patient_sex)
      SELECT id, 'BENCH' || lpad(id::text, 8, '0') || '\\', 'BENCH' || lpad(id::text, 8, '0'), NULL,
             (ARRAY['SMITH','JOHNSON','WILLIAMS','BROWN','JONES','GARCIA','MILLER','DAVIS','MARTIN','LEE',
                    'NGUYEN','WALKER','HALL','ALLEN','YOUNG','KING','WRIGHT','LOPEZ','HILL','SCOTT'])[1 + id % 20]
               || '^' || CASE WHEN sex = 'F'
                   THEN (ARRAY['MARY','PATRICIA','JENNIFER','LINDA','ELIZABETH','SUSAN','JESSICA'])[1 + id % 7]
                   ELSE (ARRAY['JAMES','ROBERT','JOHN','MICHAEL','DAVID','WILLIAM','RICHARD'])[1 + id % 7] END,
             to_char(birth, 'YYYYMMDD'), sex
        FROM bench_patients`,
    },
    {
      label: 'studies',
      sql: `
      INSERT INTO studies (id, study_instance_uid, patient_fk, patient_name, patient_id, issuer_of_patient_id,
          patient_birth_date, patient_sex, study_date, study_time, accession_number, study_id,
          study_description, referring_physician_name, institution_name, specific_character_set,
          modalities_in_study, sop_classes_in_study, number_of_series, number_of_instances, size_bytes,
          received_at, updated_at, last_accessed_at)
      SELECT s.id, se.study_uid, s.patient, p.patient_name, p.patient_id, NULL, p.patient_birth_date,
             p.patient_sex, to_char(s.study_date, 'YYYYMMDD'), to_char(s.received_at, 'HH24MISS'),
             'A' || lpad(s.id::text, 9, '0'), (s.id % 100000)::text, s.description,
             (ARRAY['HOUSE^GREGORY','GREY^MEREDITH','ROSS^DOUG','KILDARE^JAMES'])[1 + (s.id % 4)::int],
             (ARRAY['STRATA GENERAL HOSPITAL','NORTH CLINIC','EAST IMAGING CENTER'])[1 + s.patient % 3],
             'ISO_IR 100', ARRAY[s.modality], ARRAY[s.sop_class], se.n_series, se.instances, se.bytes,
             s.received_at, s.received_at, s.last_accessed_at
        FROM bench_studies s
        JOIN patients p ON p.id = s.patient
        JOIN (SELECT study, min(study_uid) AS study_uid, count(*)::int AS n_series,
                     sum(instances)::int AS instances, sum(instances * inst_size) AS bytes
                FROM bench_series GROUP BY study) se ON se.study = s.id`,
    },
    {
      label: 'series',
      sql: `
      INSERT INTO series (id, series_instance_uid, study_fk, modality, series_number, series_description,
          body_part_examined, series_date, series_time, institution_name, specific_character_set,
          number_of_instances, size_bytes, received_at, updated_at)
      SELECT se.id, '${ROOT}.2.' || extract(epoch FROM se.received_at)::bigint || '.' || se.id, se.study,
             se.modality, se.k, se.description || ' ' || se.k, se.body_part,
             to_char(se.study_date, 'YYYYMMDD'), to_char(se.received_at, 'HH24MISS'),
             st.institution_name, 'ISO_IR 100', se.instances, se.instances * se.inst_size,
             se.received_at, se.received_at
        FROM bench_series se JOIN studies st ON st.id = se.study`,
    },
    {
      label: 'blobs',
      sql: `
      INSERT INTO blobs (id, digest, size, study_instance_uid, ref_count, created_at)
      SELECT i, sha256(int8send(i)), se.inst_size, se.study_uid, 1, se.received_at
        FROM bench_series se, generate_series(se.first_instance, se.first_instance + se.instances - 1) i`,
    },
    {
      label: 'instances',
      sql: `
      INSERT INTO instances (id, sop_instance_uid, series_fk, study_fk, sop_class_uid, instance_number,
          rows, columns, number_of_frames, content_date, content_time, current_version_fk, version_count,
          received_at, updated_at)
      SELECT i, '${ROOT}.3.' || extract(epoch FROM se.received_at)::bigint || '.' || i, se.id, se.study,
             se.sop_class, (i - se.first_instance + 1)::int, se.rows, se.cols, NULL,
             to_char(se.study_date, 'YYYYMMDD'), to_char(se.received_at, 'HH24MISS'), i, 1,
             se.received_at, se.received_at
        FROM bench_series se, generate_series(se.first_instance, se.first_instance + se.instances - 1) i`,
    },
    {
      label: 'instance_versions',
      sql: `
      INSERT INTO instance_versions (id, instance_fk, version, blob_fk, transfer_syntax_uid, metadata,
          source, adapter, calling_aet, remote_host, received_at)
      SELECT i, i, 1, i, '1.2.840.10008.1.2.1', '{}'::jsonb, se.aet, 'dimse-push', se.aet,
             '10.20.' || (1 + se.study % 4) || '.' || (10 + length(se.aet)), se.received_at
        FROM bench_series se, generate_series(se.first_instance, se.first_instance + se.instances - 1) i`,
    },
    {
      // Keys as randomObjectKey() makes them; the backends of the default layout (one a tier).
      label: 'locations',
      sql: `
      INSERT INTO locations (id, blob_fk, backend, key, tier, stored_size, status, created_at, verified_at)
      SELECT i, i, CASE se.tier WHEN 'hot' THEN 'local' ELSE 'local-' || se.tier END,
             left(h, 3) || '/' || h || '.pgp', se.tier, se.inst_size + 611, 'ok', se.received_at, se.received_at
        FROM bench_series se, generate_series(se.first_instance, se.first_instance + se.instances - 1) i,
             LATERAL (SELECT md5(i::text || random()::text) AS h) k`,
    },
    {
      // A few legal holds: one patient in 500, and a handful of single studies.
      label: 'legal holds',
      sql: `
      INSERT INTO legal_holds (patient_id, study_instance_uid, reason, case_reference, custodian, placed_by)
      SELECT patient_id, NULL, 'litigation', 'CASE-' || id, 'Legal Department', 'bench'
        FROM patients WHERE id % 500 = 7
      UNION ALL
      SELECT NULL, study_instance_uid, 'quality review', NULL, 'Radiology QA', 'bench'
        FROM studies WHERE id % 4000 = 13`,
    },
    {
      label: 'sequences',
      sql: `
      SELECT setval('patients_id_seq', (SELECT max(id) FROM patients)),
             setval('studies_id_seq', (SELECT max(id) FROM studies)),
             setval('series_id_seq', (SELECT max(id) FROM series)),
             setval('instances_id_seq', (SELECT max(id) FROM instances)),
             setval('instance_versions_id_seq', (SELECT max(id) FROM instance_versions)),
             setval('blobs_id_seq', (SELECT max(id) FROM blobs)),
             setval('locations_id_seq', (SELECT max(id) FROM locations))`,
    },
  ];
}

const CATALOG_TABLES = [
  'patients',
  'studies',
  'series',
  'instances',
  'instance_versions',
  'blobs',
  'locations',
  'legal_holds',
];

async function generateCatalog(db: Database, instances: number): Promise<Record<string, number>> {
  const steps: Record<string, number> = {};
  await db.transaction(async (tx) => {
    for (const step of generationSteps(instances)) {
      const t = performance.now();
      await tx.query(step.sql);
      steps[step.label] = (performance.now() - t) / 1000;
      if (steps[step.label]! >= 0.5) log(`  ${step.label}: ${steps[step.label]!.toFixed(1)} s`);
    }
  });
  return steps;
}

/** Figures of what was generated, and the checks that its counters agree with its rows. */
async function describeCatalog(db: Sql): Promise<CatalogFigures> {
  const one = async (sql: string) => (await db.query<{ n: string }>(sql))[0]!.n;
  const count = async (table: string) =>
    Number(await one(`SELECT count(*)::text AS n FROM ${table}`));
  const figures: CatalogFigures = {
    patients: await count('patients'),
    studies: await count('studies'),
    series: await count('series'),
    instances: await count('instances'),
    bytes: Number(await one('SELECT sum(size)::text AS n FROM blobs')),
    holds: await count('legal_holds'),
    modalities: {},
    tiers: {},
    patientsWithoutBirthDate: Number(
      await one('SELECT count(*)::text AS n FROM patients WHERE patient_birth_date IS NULL'),
    ),
    studiesNeverRead: Number(
      await one('SELECT count(*)::text AS n FROM studies WHERE last_accessed_at IS NULL'),
    ),
  };
  for (const r of await db.query<{ m: string; n: string }>(
    'SELECT modalities_in_study[1] AS m, count(*)::text AS n FROM studies GROUP BY 1 ORDER BY 1',
  )) {
    figures.modalities[r.m] = Number(r.n);
  }
  for (const r of await db.query<{ t: string; n: string }>(
    'SELECT tier AS t, count(*)::text AS n FROM locations GROUP BY 1 ORDER BY 1',
  )) {
    figures.tiers[r.t] = Number(r.n);
  }
  const [check] = await db.query<Record<string, string>>(`
    SELECT (SELECT sum(number_of_instances) FROM studies)::text AS study_instances,
           (SELECT sum(number_of_series) FROM studies)::text AS study_series,
           (SELECT sum(size_bytes) FROM studies)::text AS study_bytes,
           (SELECT sum(number_of_instances) FROM series)::text AS series_instances,
           (SELECT sum(size_bytes) FROM series)::text AS series_bytes,
           (SELECT count(*) FROM instances i JOIN instance_versions v ON v.id = i.current_version_fk
              JOIN locations l ON l.blob_fk = v.blob_fk)::text AS joined`);
  const expect = {
    study_instances: figures.instances,
    study_series: figures.series,
    study_bytes: figures.bytes,
    series_instances: figures.instances,
    series_bytes: figures.bytes,
    joined: figures.instances,
  };
  for (const [key, value] of Object.entries(expect)) {
    if (Number(check![key]) !== value) {
      throw new Error(`generated catalog inconsistent: ${key} = ${check![key]}, expected ${value}`);
    }
  }
  return figures;
}

interface MonthSummary {
  month: number;
  date: string;
  hot: number;
  warm: number;
  cold: number;
  expired: number;
  expiries: number;
  purges: number;
  moves: string;
  blocked: number;
}

export interface LifecycleFigures {
  instancesRequested: number;
  catalog: CatalogFigures;
  generation: { seconds: number; steps: Record<string, number> };
  /** VACUUM (ANALYZE) of the catalog tables and a CHECKPOINT, so the timed steps start settled. */
  settle: { seconds: number };
  simulation: {
    seconds: number;
    /** Until the last batch of patients was read (SimulationService reports each batch). */
    readSeconds: number;
    studies: number;
    bytes: number;
    first: MonthSummary;
    last: MonthSummary;
    ok: boolean;
  };
  retentionSweep: {
    seconds: number;
    status: string;
    error: string | null;
    result: SweepResult | null;
    ok: boolean;
  };
}

function monthSummary(m: SimulationReport['current']['months'][number]): MonthSummary {
  return {
    month: m.month,
    date: m.date,
    hot: m.tiers.hot.studies,
    warm: m.tiers.warm.studies,
    cold: m.tiers.cold.studies,
    expired: m.expired.studies,
    expiries: m.expiries,
    purges: m.purges,
    moves:
      Object.entries(m.moves)
        .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
        .join(', ') || '-',
    blocked: m.blocked.expiries + m.blocked.purges,
  };
}

async function measure(
  app: INestApplicationContext,
  db: Database,
  instances: number,
): Promise<LifecycleFigures> {
  log(`generating ${instances} instances in PostgreSQL`);
  let t = performance.now();
  const steps = await generateCatalog(db, instances);
  const generationSeconds = (performance.now() - t) / 1000;
  log(`generated in ${generationSeconds.toFixed(1)} s`);

  t = performance.now();
  await db.query(`VACUUM (ANALYZE) ${CATALOG_TABLES.join(', ')}`);
  // A superuser's command (the embedded cluster's user is one); elsewhere the step is skipped.
  await db.query('CHECKPOINT').catch((e: unknown) => log(`no CHECKPOINT: ${String(e)}`));
  const settleSeconds = (performance.now() - t) / 1000;
  log(`VACUUM (ANALYZE) and CHECKPOINT: ${settleSeconds.toFixed(1)} s`);
  const catalog = await describeCatalog(db);
  log(
    `catalog: ${catalog.patients} patients, ${catalog.studies} studies, ${catalog.series} series, ` +
      `${catalog.instances} instances, ${(catalog.bytes / 1e12).toFixed(2)} TB`,
  );

  const simulation = app.get(SimulationService);
  t = performance.now();
  let readAt = t;
  const report = await simulation.run(MONTHS, null, () => {
    readAt = performance.now();
  });
  const simSeconds = (performance.now() - t) / 1000;
  const readSeconds = (readAt - t) / 1000;
  log(
    `simulation of ${MONTHS} months: ${simSeconds.toFixed(2)} s (catalog read ${readSeconds.toFixed(2)} s), ` +
      `${report.studies} studies`,
  );

  const sweeps = app.get(Sweeps);
  const jobs = new JobRepository(db);
  t = performance.now();
  const { job, finished } = await sweeps.start('retention', 'bench');
  await finished;
  const sweepSeconds = (performance.now() - t) / 1000;
  const end = await jobs.get(job.id);
  const result = (end?.result ?? null) as SweepResult | null;
  log(
    `retention sweep: ${sweepSeconds.toFixed(2)} s, ${end?.status ?? 'no job'}: ` +
      `${result?.evaluated ?? 0} evaluated, ${result?.expired ?? 0} expired, ${result?.blocked ?? 0} blocked`,
  );

  const months = report.current.months;
  const sweepOk = end?.status === 'done' && result !== null && !result.stoppedBecause;
  return {
    instancesRequested: instances,
    catalog,
    generation: { seconds: generationSeconds, steps },
    settle: { seconds: settleSeconds },
    simulation: {
      seconds: simSeconds,
      readSeconds,
      studies: report.studies,
      bytes: report.bytes,
      first: monthSummary(months[0]!),
      last: monthSummary(months[months.length - 1]!),
      ok: report.studies === catalog.studies,
    },
    retentionSweep: {
      seconds: sweepSeconds,
      status: end?.status ?? 'missing',
      error: end?.error ?? null,
      result,
      ok: sweepOk && result.evaluated === catalog.studies,
    },
  };
}

const int = (n: number) => n.toLocaleString('en-US');
const verdict = (seconds: number, ok: boolean) =>
  !ok ? 'FAILED (see JSON)' : seconds < TARGET_SECONDS ? 'pass' : 'FAIL';

function markdown(
  date: string,
  head: string,
  f: LifecycleFigures,
  postgres: Record<'version' | 'sharedBuffers' | 'workMem' | 'fsync' | 'synchronousCommit', string>,
): string {
  const c = f.catalog;
  const s = f.simulation;
  const r = f.retentionSweep;
  const month = (m: MonthSummary) =>
    `| ${m.month} | ${m.date} | ${int(m.hot)} | ${int(m.warm)} | ${int(m.cold)} | ${int(m.expired)} | ${int(m.expiries)} | ${int(m.purges)} | ${m.moves} | ${int(m.blocked)} |`;
  return `# Strata lifecycle benchmark, ${date}

${head}
Embedded PostgreSQL ${postgres.version} as Strata starts it (shared_buffers ${postgres.sharedBuffers}, work_mem ${postgres.workMem}, fsync ${postgres.fsync}, synchronous_commit ${postgres.synchronousCommit}), fresh, a child of the benchmark's process; the app context is the CLI's (LifecycleModule, no HTTP, no schedule). Policies: the shipped ones (policies/). Config: lifecycle.maxActionsPerSecond 0, batchSize 500 (default), schedules off.

Synthetic catalog, written directly in PostgreSQL (set-based INSERT ... SELECT, one transaction): ${int(c.patients)} patients (${int(c.patientsWithoutBirthDate)} without a birth date), ${int(c.studies)} studies (${Object.entries(
    c.modalities,
  )
    .map(([m, n]) => `${m} ${int(n)}`)
    .join(
      ', ',
    )}; ${int(c.studiesNeverRead)} never read), ${int(c.series)} series, ${int(c.instances)} instances with one version, one blob and one location each (${Object.entries(
    c.tiers,
  )
    .map(([t, n]) => `${t} ${int(n)}`)
    .join(', ')}), ${(c.bytes / 1e12).toFixed(2)} TB by the catalog; ${c.holds} active legal holds.

| step | seconds | figures | target | result |
| --- | ---: | --- | --- | --- |
| generate the catalog rows | ${f.generation.seconds.toFixed(1)} | ${int(c.instances)} instances, ${int(c.studies)} studies | | |
| VACUUM (ANALYZE), CHECKPOINT | ${f.settle.seconds.toFixed(1)} | | | |
| simulate ${MONTHS} months (\`SimulationService.run(${MONTHS}, null)\`) | ${s.seconds.toFixed(2)} | ${int(s.studies)} studies; catalog read ${s.readSeconds.toFixed(2)} s, simulation ${(s.seconds - s.readSeconds).toFixed(2)} s | < ${TARGET_SECONDS} s | ${verdict(s.seconds, s.ok)} |
| retention sweep (\`Sweeps.start('retention')\`, to its end) | ${r.seconds.toFixed(2)} | ${int(r.result?.evaluated ?? 0)} studies evaluated, ${int(r.result?.expired ?? 0)} expired, ${int(r.result?.blocked ?? 0)} blocked by holds, ${int(r.result?.failed ?? 0)} failed | < ${TARGET_SECONDS} s | ${verdict(r.seconds, r.ok)} |

Simulation, first and last month (studies by tier hold at least one object there; expired = expired, not yet purged):

| month | date | hot | warm | cold | expired | expiries | purges | moves | blocked |
| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |
${month(s.first)}
${month(s.last)}

Each expiry of the sweep is its own transaction (holds checked again, the study marked, its audit row appended) and commit. Generation steps (s): ${Object.entries(
    f.generation.steps,
  )
    .filter(([, v]) => v >= 0.05)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ')}.
`;
}

export async function runLifecycleBench(root: string): Promise<{ md: string; json: string }> {
  const instances = positiveInt('BENCH_LIFECYCLE_INSTANCES', 1_000_000);
  const work = mkdtempSync(join(process.env.BENCH_TMPDIR?.trim() || tmpdir(), 'strata-bench-lc-'));
  // The embedded PostgreSQL runs as 'postgres' when we are root: it must traverse this folder.
  chmodSync(work, 0o755);
  const keep = process.env.BENCH_KEEP === '1';
  try {
    const dataDir = join(work, 'strata');
    await mkdir(dataDir, { recursive: true });
    const configPath = join(work, 'strata.yaml');
    await writeFile(
      configPath,
      `lifecycle:
  maxActionsPerSecond: 0
  schedules: { retention: 'off', tiering: 'off', purge: 'off' }
fixity: { schedule: 'off' }
`,
    );
    const config = loadConfig({
      STRATA_DATA_DIR: dataDir,
      STRATA_CONFIG: configPath,
      STRATA_POLICIES_DIR: join(root, 'policies'),
      STRATA_KEY_PASSPHRASE: 'bench-passphrase',
      STRATA_LOG_LEVEL: 'warn',
    });
    const opened = await openDatabase(config, { log, warn: log }, { owner: true });
    let app: INestApplicationContext | undefined;
    try {
      app = await NestFactory.createApplicationContext(
        TieringCliModule.forRoot(config, opened.database),
        { logger: ['error', 'warn'] },
      );
      const [pg] = await opened.database.query<Record<string, string>>(
        `SELECT current_setting('server_version') AS version,
                current_setting('shared_buffers') AS "sharedBuffers",
                current_setting('work_mem') AS "workMem",
                current_setting('fsync') AS fsync,
                current_setting('synchronous_commit') AS "synchronousCommit"`,
      );
      const figures = await measure(app, opened.database, instances);

      const date = new Date().toISOString();
      const git = await gitState(root);
      const machine = await describeMachine();
      const postgres = {
        version: pg!.version!,
        sharedBuffers: pg!.sharedBuffers!,
        workMem: pg!.workMem!,
        fsync: pg!.fsync!,
        synchronousCommit: pg!.synchronousCommit!,
      };
      const head =
        `git: ${git.label}; ${machine.cpuModel} × ${machine.cpuCount}, ${machine.totalMemoryGB} GB, ` +
        `${machine.os}, kernel ${machine.kernel}, Node ${machine.node}.`;
      const md = markdown(date, head, figures, postgres);
      const result = {
        date,
        git,
        machine,
        postgres,
        targetSeconds: TARGET_SECONDS,
        settings: { months: MONTHS, maxActionsPerSecond: 0, batchSize: 500 },
        ...figures,
      };
      const dir = join(root, 'bench', 'results');
      await mkdir(dir, { recursive: true });
      const stamp = date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
      const base = join(dir, `${stamp}-lifecycle-${git.label}`);
      await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
      await writeFile(`${base}.md`, md);
      console.log(md);
      if (!figures.simulation.ok || !figures.retentionSweep.ok) {
        log(
          'the simulation or the sweep did not cover every study, or the sweep failed: see the JSON',
        );
        process.exitCode = 1;
      }
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
  runLifecycleBench(root).catch((error: unknown) => {
    console.error(`[bench:lifecycle] ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 1;
  });
}
