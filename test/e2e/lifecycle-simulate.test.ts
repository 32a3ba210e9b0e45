import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMonths, dayOf } from '../../src/lifecycle/dates.js';
import { Clock, type SimulationReport, Sweeps } from '../../src/lifecycle/index.js';
import { monthsAfter } from '../../src/lifecycle/simulator.js';
import { TierMover } from '../../src/tiering/index.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi } from '../support/wado-client.js';
import { LIFECYCLE_TEST_CONFIG, storeStudy } from '../support/lifecycle.js';

const MONTHS = 14;

/** A DICOM date `months` (may be negative) and `years` from a YYYY-MM-DD day. */
function da(day: string, years: number, months = 0): string {
  return addMonths(day, years * 12 + months).replaceAll('-', '');
}

/**
 * The simulation is a promise about the future: run it, then run the real sweeps month by month
 * on the injected clock over the same months, and the archive must do exactly what it said
 * (expiries, purges, moves, blocked deletions, studies per tier).
 */
describe('policy simulation agrees with what the sweeps then do', () => {
  let s: TestStrata;
  let db: pg.Client;

  beforeAll(async () => {
    s = await startTestStrata({
      configYaml: LIFECYCLE_TEST_CONFIG,
      env: { STRATA_POLICIES_DIR: resolve('policies') },
    });
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it(`over ${MONTHS} months of the default policies`, async () => {
    const start = new Date();
    s.running.app.get(Clock).set(start);
    const today = dayOf(start.toISOString());
    const adult = { birthDate: '19600101', modality: 'CT' as const };
    // Retention ends 2, 3 (held), 4 and 6 months from now (both of SIM-4's studies: 10 years
    // after the patient's last study); the rest outlives the window.
    await storeStudy(s, { patientId: 'SIM-1', ...adult, studyDate: da(today, -10, 2) });
    await storeStudy(s, { patientId: 'SIM-2', ...adult, studyDate: da(today, -10, 3) });
    await storeStudy(s, {
      patientId: 'SIM-3',
      birthDate: '',
      modality: 'MG',
      studyDate: da(today, -5, 4),
    });
    await storeStudy(s, {
      patientId: 'SIM-3',
      birthDate: '',
      modality: 'MG',
      studyDate: da(today, -1),
    });
    await storeStudy(s, { patientId: 'SIM-4', ...adult, studyDate: da(today, -12) });
    await storeStudy(s, { patientId: 'SIM-4', ...adult, studyDate: da(today, -10, 6) });
    await storeStudy(s, {
      patientId: 'SIM-5',
      birthDate: '20150101',
      modality: 'CT',
      studyDate: da(today, -2),
    });
    await storeStudy(s, {
      patientId: 'SIM-6',
      birthDate: '',
      modality: 'CT',
      studyDate: da(today, -30),
    });
    const hold = await callApi(s, 'POST', '/api/holds', {
      patientId: 'SIM-2',
      reason: 'litigation',
    });
    expect(hold.status).toBe(201);

    const sim = await callApi(s, 'POST', '/api/policies/simulate', { months: MONTHS });
    expect(sim.status, JSON.stringify(sim.body)).toBe(200);
    const report = sim.body as unknown as SimulationReport;
    expect(report.studies).toBe(8);

    const sweeps = s.running.app.get(Sweeps);
    const mover = s.running.app.get(TierMover);
    const run = async (name: 'retention' | 'tiering' | 'purge') => {
      const { job, finished } = await sweeps.start(name, 'test');
      await finished;
      await mover.idle();
      const { body } = await callApi(s, 'GET', `/api/jobs/${job.id}`);
      expect(body.status, JSON.stringify(body)).toBe('done');
      return body.result as { expired: number; purged: number; moves: number; blocked: number };
    };
    type Month = {
      month: number;
      expiries: number;
      purges: number;
      moves: number;
      blocked: number;
      tiers: { hot: number; warm: number; cold: number };
    };
    const actual: Month[] = [];
    for (let m = 1; m <= MONTHS; m++) {
      s.running.app.get(Clock).set(monthsAfter(start, m));
      const retention = await run('retention');
      const tiering = await run('tiering');
      const purge = await run('purge');
      const { rows } = await db.query<{ tier: string; studies: number }>(
        `SELECT l.tier, count(DISTINCT st.id)::int AS studies
           FROM studies st JOIN instances i ON i.study_fk = st.id
           JOIN instance_versions v ON v.id = i.current_version_fk
           JOIN locations l ON l.blob_fk = v.blob_fk
          WHERE st.purged_at IS NULL GROUP BY l.tier`,
      );
      const tiers = Object.fromEntries(rows.map((r) => [r.tier, r.studies]));
      actual.push({
        month: m,
        expiries: retention.expired,
        purges: purge.purged,
        moves: tiering.moves,
        blocked: retention.blocked + purge.blocked,
        tiers: { hot: tiers.hot ?? 0, warm: tiers.warm ?? 0, cold: tiers.cold ?? 0 },
      });
    }
    const predicted = report.current.months.map((p): Month => ({
      month: p.month,
      expiries: p.expiries,
      purges: p.purges,
      moves: Object.values(p.moves).reduce((a, b) => a + b, 0),
      blocked: p.blocked.expiries + p.blocked.purges,
      tiers: {
        hot: p.tiers.hot.studies,
        warm: p.tiers.warm.studies,
        cold: p.tiers.cold.studies,
      },
    }));
    expect(actual).toEqual(predicted);
    // The scenario exercised every path: expiries, purges, moves to warm and to cold, a hold.
    const sum = (k: 'expiries' | 'purges' | 'moves' | 'blocked') =>
      actual.reduce((n, a) => n + a[k], 0);
    expect(sum('expiries')).toBe(4);
    expect(sum('purges')).toBe(4);
    expect(sum('blocked')).toBeGreaterThanOrEqual(MONTHS - 3);
    expect(actual[0]!.tiers.warm).toBeGreaterThan(0);
    expect(actual[MONTHS - 1]!.tiers.cold).toBeGreaterThan(0);
  });
});
