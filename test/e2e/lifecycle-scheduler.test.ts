import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, Scheduler, Sweeps } from '../../src/lifecycle/index.js';
import { TierMover } from '../../src/tiering/index.js';
import { storeStudy } from '../support/lifecycle.js';
import {
  removeDataDir,
  secondNodeDataDir,
  startTestStrata,
  type TestStrata,
} from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { callApi } from '../support/wado-client.js';

/** Schedules that never fire on their own in a test (tests call tick()), and a night window. */
const CONFIG = `
lifecycle:
  maxActionsPerSecond: 0
  schedules: { retention: '0 0 1 1 *', tiering: '0 0 1 1 *', purge: '0 0 1 1 *' }
  windows: { tiering: '22:00-06:00' }
fixity:
  schedule: 'off'
`;

/**
 * Two nodes on one database: every tick of a schedule runs once, on whichever node claims it
 * first; a paused schedule runs nowhere; a sweep outside its window does not start. Also the
 * tiering sweep's moves and recalls (one study, or a patient's prefetch list).
 */
async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('lifecycle scheduler across nodes, tiering moves and recalls', () => {
  let a: TestStrata;
  let b: TestStrata;
  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const env = {
      STRATA_POLICIES_DIR: resolve('policies'),
      STRATA_TEST_NOW: '2026-06-01T12:00:00Z',
    };
    a = await startTestStrata({ configYaml: CONFIG, databaseUrl, env });
    b = await startTestStrata({
      configYaml: CONFIG,
      databaseUrl,
      env,
      dataDir: secondNodeDataDir(a),
    });
  });
  afterAll(async () => {
    for (const s of [a, b]) {
      await s?.stop();
      if (s) removeDataDir(s.dataDir);
    }
  });

  const jobsOf = async (kind: string) =>
    (await callApi(a, 'GET', `/api/jobs?kind=${kind}`)).body as unknown as { id: string }[];

  it('two nodes racing the same tick: exactly one runs it', async () => {
    await storeStudy(a, {
      patientId: 'TICK-1',
      birthDate: '19500101',
      studyDate: '20050101',
      modality: 'CT',
    });
    const tick = new Date('2026-06-01T12:00:00Z');
    for (let round = 0; round < 5; round++) {
      const at = new Date(tick.getTime() + round * 60_000);
      const outcomes = await Promise.all([
        a.running.app.get(Scheduler).tick('retention', at),
        b.running.app.get(Scheduler).tick('retention', at),
      ]);
      expect(outcomes.sort()).toEqual(['claimed-elsewhere', 'ran']);
      // The same tick again (a node whose cron fired late) runs nowhere.
      expect(await b.running.app.get(Scheduler).tick('retention', at)).toBe('claimed-elsewhere');
      await a.running.app.get(Sweeps).idle();
      await b.running.app.get(Sweeps).idle();
    }
    expect(await jobsOf('lifecycle.retention')).toHaveLength(5);
    const schedules = (await callApi(a, 'GET', '/api/schedules')).body as unknown as {
      name: string;
      lastTick: string;
    }[];
    expect(schedules.find((x) => x.name === 'retention')!.lastTick).toBe(
      '2026-06-01T12:04:00.000Z',
    );
  });

  it('a paused schedule runs on no node until it is resumed', async () => {
    const at = new Date('2026-06-02T12:00:00Z');
    expect((await callApi(b, 'POST', '/api/schedules/purge/pause')).status).toBe(200);
    expect(await a.running.app.get(Scheduler).tick('purge', at)).toBe('paused');
    expect(await b.running.app.get(Scheduler).tick('purge', at)).toBe('paused');
    expect((await callApi(a, 'POST', '/api/schedules/purge/resume')).status).toBe(200);
    expect(await a.running.app.get(Scheduler).tick('purge', at)).toBe('ran');
    await a.running.app.get(Sweeps).idle();
    expect((await callApi(a, 'POST', '/api/schedules/nightly/pause')).status).toBe(400);
  });

  it('moves only in the window; the tiering sweep moves due studies; recall and prefetch bring them back', async () => {
    const uid = await storeStudy(a, {
      patientId: 'TIER-1',
      birthDate: '19800101',
      studyDate: '20260101',
      modality: 'CT',
    });
    const other = await storeStudy(a, {
      patientId: 'TIER-1',
      birthDate: '19800101',
      studyDate: '20260201',
      modality: 'CT',
    });
    const sched = a.running.app.get(Scheduler);
    // Received now (real time): 45 days later, hot → warm is due.
    const later = new Date(Date.now() + 45 * 86_400_000);
    later.setHours(12, 0, 0, 0);
    a.running.app.get(Clock).set(later);
    expect(await sched.tick('tiering', later)).toBe('outside-window');
    const night = new Date(later);
    night.setHours(23, 0, 0, 0);
    a.running.app.get(Clock).set(night);
    expect(await sched.tick('tiering', night)).toBe('ran');
    await a.running.app.get(Sweeps).idle();
    await a.running.app.get(TierMover).idle();
    const tiersOf = async (study: string) => {
      const e = await callApi(a, 'GET', `/api/studies/${study}/lifecycle`);
      return (e.body.tiering as { current: string[] }).current;
    };
    expect(await tiersOf(uid)).toEqual(['warm']);
    expect(await tiersOf(other)).toEqual(['warm']);
    // The move's audit row names the rule.
    const audit = await callApi(a, 'GET', `/api/audit?studyInstanceUid=${uid}&action=study.moved`);
    const moved = (audit.body.events as { detail: { policy?: { rule: string } } }[])[0]!;
    expect(moved.detail.policy?.rule).toBe('hot-to-warm');

    // Read from warm: recalled to hot (recallOnAccess in the default policies).
    const read = await fetch(`${a.httpUrl}/dicomweb/studies/${uid}`, {
      headers: { authorization: a.auth, accept: 'multipart/related; type="application/dicom"' },
    });
    expect(read.status).toBe(200);
    await read.arrayBuffer();
    await until(async () => (await tiersOf(uid)).join() === 'hot');
    const recalled = await callApi(
      a,
      'GET',
      `/api/audit?studyInstanceUid=${uid}&action=study.recall-requested`,
    );
    expect((recalled.body.events as { detail: { reason: string } }[])[0]!.detail.reason).toBe(
      'accessed',
    );
    // Ahead of time: one study, then a patient's prefetch list.
    const recall = await callApi(a, 'POST', `/api/studies/${other}/recall`, { reason: 'clinic' });
    expect(recall.status).toBe(202);
    await a.running.app.get(TierMover).idle();
    expect(await tiersOf(other)).toEqual(['hot']);
    for (const study of [uid, other]) {
      expect(
        (await callApi(a, 'POST', `/api/studies/${study}/move`, { tier: 'cold' })).status,
      ).toBe(202);
    }
    await a.running.app.get(TierMover).idle();
    expect(await tiersOf(other)).toEqual(['cold']);
    const prefetch = await callApi(a, 'POST', '/api/prefetch', { patientIds: ['TIER-1'] });
    expect(prefetch.status).toBe(202);
    expect((prefetch.body.recalls as unknown[]).length).toBe(2);
    await a.running.app.get(TierMover).idle();
    expect(await tiersOf(uid)).toEqual(['hot']);
    expect(await tiersOf(other)).toEqual(['hot']);
    expect((await callApi(a, 'POST', '/api/prefetch', { patientIds: [] })).status).toBe(400);
    expect((await callApi(a, 'POST', '/api/studies/1.2.3.4.5/recall', {})).status).toBe(404);
  });
});
