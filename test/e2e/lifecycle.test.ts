import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Clock, Sweeps } from '../../src/lifecycle/index.js';
import { TierMover } from '../../src/tiering/index.js';
import { filesUnder } from '../support/object-files.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { stow } from '../support/stow-client.js';
import { callApi } from '../support/wado-client.js';
import { LIFECYCLE_TEST_CONFIG, storeStudy } from '../support/lifecycle.js';

/** The shipped default policies, as a fresh install runs them. */
const DEFAULT_POLICIES = resolve('policies');

interface RetentionView {
  forever: boolean;
  until: string | null;
  rule: string | null;
  ended: boolean;
  matched: { rule: string; won: boolean; until: string | null; why: string[] }[];
  notMatched: { rule: string; why: string }[];
}

describe('lifecycle: default policies, explain, holds, two-step deletion', () => {
  let s: TestStrata;
  const api = (method: string, path: string, body?: unknown) => callApi(s, method, path, body);
  const explain = async (uid: string, at?: string) => {
    const res = await api('GET', `/api/studies/${uid}/lifecycle${at ? `?at=${at}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as Record<string, unknown> & { retention: RetentionView };
  };
  const setClock = (iso: string) => s.running.app.get(Clock).set(new Date(iso));
  const sweep = async (name: 'retention' | 'tiering' | 'purge') => {
    const sweeps = s.running.app.get(Sweeps);
    const { job, finished } = await sweeps.start(name, 'test');
    await finished;
    await s.running.app.get(TierMover).idle();
    const { body } = await api('GET', `/api/jobs/${job.id}`);
    expect(body.status, JSON.stringify(body)).toBe('done');
    return body.result as Record<string, number | string[]>;
  };
  const qidoStudy = async (uid: string) => {
    const res = await fetch(`${s.httpUrl}/dicomweb/studies?StudyInstanceUID=${uid}`, {
      headers: { authorization: s.auth, accept: 'application/dicom+json' },
    });
    return res.status === 204 ? [] : ((await res.json()) as unknown[]);
  };

  beforeAll(async () => {
    s = await startTestStrata({
      configYaml: LIFECYCLE_TEST_CONFIG,
      env: { STRATA_POLICIES_DIR: DEFAULT_POLICIES, STRATA_TEST_NOW: '2026-06-01T12:00:00Z' },
    });
  });
  beforeEach(() => setClock('2026-06-01T12:00:00Z'));
  afterAll(async () => {
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('adults: 10 years after the last study, and a new study re-evaluates the older ones', async () => {
    const old = await storeStudy(s, {
      patientId: 'ADULT-1',
      birthDate: '19600101',
      studyDate: '20100315',
      modality: 'CT',
      sex: 'M',
    });
    let e = await explain(old);
    expect(e.state).toBe('active');
    expect(e.retention).toMatchObject({ rule: 'adult', until: '2020-03-15', ended: true });
    expect(e.retention.notMatched.map((n) => n.rule)).toContain('minor');
    expect((e.action as { kind: string }).kind).toBe('expire');

    await storeStudy(s, {
      patientId: 'ADULT-1',
      birthDate: '19600101',
      studyDate: '20190402',
      modality: 'CT',
      sex: 'M',
    });
    e = await explain(old);
    expect(e.retention).toMatchObject({ rule: 'adult', until: '2029-04-02', ended: false });
    expect(e.retention.matched[0]!.why.join(' ')).toMatch(/age at study 50/);
    expect((e.action as { kind: string }).kind).toBe('none');
  });

  it('minors: until the age of majority (21) plus 2 years', async () => {
    const uid = await storeStudy(s, {
      patientId: 'MINOR-1',
      birthDate: '20100315',
      studyDate: '20150601',
      modality: 'CT',
    });
    const e = await explain(uid);
    expect(e.retention).toMatchObject({ rule: 'minor', until: '2033-03-15', forever: false });
    // Explain answers for another day too.
    const later = await explain(uid, '2033-03-15');
    expect(later.retention.ended).toBe(true);
    expect((later.action as { kind: string }).kind).toBe('expire');
  });

  it('mammography: MQSA sets the retention when no age rule applies, and says which rule lost', async () => {
    // No birth date: neither adult nor minor matches; MQSA decides.
    const first = await storeStudy(s, {
      patientId: 'MG-1',
      birthDate: '',
      studyDate: '20120110',
      modality: 'MG',
    });
    let e = await explain(first);
    expect(e.retention).toMatchObject({ rule: 'mqsa-last-mammogram', until: '2022-01-10' });
    const second = await storeStudy(s, {
      patientId: 'MG-1',
      birthDate: '',
      studyDate: '20150110',
      modality: 'MG',
    });
    e = await explain(first);
    // A later mammogram: 5 years for the first one.
    expect(e.retention).toMatchObject({ rule: 'mqsa-later-mammogram', until: '2017-01-10' });
    expect((await explain(second)).retention.until).toBe('2025-01-10');

    // With a birth date the adult rule (10 years after the last study) outlasts MQSA.
    const adultMg = await storeStudy(s, {
      patientId: 'MG-2',
      birthDate: '19500505',
      studyDate: '20120110',
      modality: 'MG',
    });
    e = await explain(adultMg);
    expect(e.retention.rule).toBe('adult');
    const lost = e.retention.matched.find((m) => m.rule === 'mqsa-last-mammogram');
    expect(lost).toMatchObject({ won: false, until: '2022-01-10' });
  });

  it('a study without a birth date and not a mammogram is kept forever: no rule matched', async () => {
    const uid = await storeStudy(s, {
      patientId: 'NOBIRTH-1',
      birthDate: '',
      studyDate: '20000101',
      modality: 'CT',
    });
    const e = await explain(uid, '2090-01-01');
    expect(e.retention).toMatchObject({ forever: true, rule: null, ended: false });
    expect((e.action as { kind: string }).kind).toBe('none');
  });

  it('a hold blocks expiry and purge; its release lets them proceed; the purge is certified', async () => {
    const uid = await storeStudy(s, {
      patientId: 'HOLD-1',
      birthDate: '19700101',
      studyDate: '20050101',
      modality: 'CT',
      instances: 2,
    });
    // Bad hold requests are refused with a clear reason.
    expect((await api('POST', '/api/holds', { reason: 'x' })).status).toBe(400);
    expect(
      (await api('POST', '/api/holds', { patientId: 'HOLD-1', studyInstanceUid: uid, reason: 'x' }))
        .status,
    ).toBe(400);
    expect((await api('POST', '/api/holds', { patientId: 'HOLD-1' })).status).toBe(400);
    const placed = await api('POST', '/api/holds', {
      patientId: 'HOLD-1',
      reason: 'litigation',
      caseReference: 'CASE-17',
      custodian: 'legal@example.org',
      reviewDate: '2027-01-31',
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const holdId = String(placed.body.id);

    let e = await explain(uid);
    expect(e.action).toEqual({ kind: 'blocked', by: 'expire', holds: [holdId] });
    expect((e.holds as { id: string }[]).map((h) => h.id)).toEqual([holdId]);
    let r = await sweep('retention');
    expect(r.blockingHolds).toContain(holdId);
    expect((await explain(uid)).state).toBe('active');
    // Manual deletion is refused too.
    const refused = await api('DELETE', `/api/studies/${uid}`, { reason: 'duplicate' });
    expect(refused.status).toBe(409);

    const released = await api('POST', `/api/holds/${holdId}/release`, { reason: 'case closed' });
    expect(released.status).toBe(200);
    expect(released.body.active).toBe(false);
    expect((await api('POST', `/api/holds/${holdId}/release`, { reason: 'again' })).status).toBe(
      409,
    );

    r = await sweep('retention');
    expect(r.expired).toBeGreaterThanOrEqual(1);
    e = await explain(uid);
    expect(e.state).toBe('expired');
    expect(await qidoStudy(uid)).toEqual([]);
    const wado = await fetch(`${s.httpUrl}/dicomweb/studies/${uid}/metadata`, {
      headers: { authorization: s.auth, accept: 'application/dicom+json' },
    });
    expect(wado.status).toBe(404);
    // Not yet purgeable: 30 days of grace.
    r = await sweep('purge');
    expect(r.purged).toBe(0);
    expect((await explain(uid)).state).toBe('expired');

    // A hold placed during the grace period blocks the purge.
    const second = await api('POST', '/api/holds', { studyInstanceUid: uid, reason: 'audit' });
    setClock('2026-07-15T12:00:00Z');
    expect((await explain(uid)).action).toEqual({
      kind: 'blocked',
      by: 'purge',
      holds: [String(second.body.id)],
    });
    r = await sweep('purge');
    expect(r.blocked).toBeGreaterThanOrEqual(1);
    expect((await explain(uid)).state).toBe('expired');
    await api('POST', `/api/holds/${String(second.body.id)}/release`, { reason: 'done' });

    r = await sweep('purge');
    expect(r.purged).toBeGreaterThanOrEqual(1);
    const gone = await explain(uid);
    expect(gone.state).toBe('purged');

    const cert = await api('GET', `/api/deletions/${String(gone.deletionCertificate)}`);
    expect(cert.status).toBe(200);
    expect(cert.body.verified).toBe(true);
    const c = cert.body.certificate as {
      study: { studyInstanceUid: string; patientId: string; instances: number };
      authority: { rule: string; expiredBy: string };
      locations: { tier: string; confirmation: string }[];
      sessionKey: { pkeskRowsDestroyed: number };
    };
    expect(c.study).toMatchObject({ studyInstanceUid: uid, patientId: 'HOLD-1', instances: 2 });
    expect(c.authority).toMatchObject({ rule: 'adult', expiredBy: 'retention' });
    expect(c.locations).toHaveLength(2);
    // The objects are gone from the disk.
    const files = filesUnder(resolve(s.dataDir, 'objects'));
    for (const l of c.locations as unknown as { key: string }[]) {
      expect(files.some((f) => f.endsWith(l.key))).toBe(false);
    }
    expect(c.locations.every((l) => /HEAD afterwards: not found/.test(l.confirmation))).toBe(true);
    expect(c.sessionKey.pkeskRowsDestroyed).toBeGreaterThanOrEqual(1);

    // Every step is in the audit trail, with the rule behind it.
    const audit = await api('GET', `/api/audit?studyInstanceUid=${uid}`);
    const events = audit.body.events as { action: string; detail: { rule?: string } }[];
    const actions = events.map((a) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining(['hold.placed', 'hold.released', 'study.expired', 'study.purged']),
    );
    expect(events.find((a) => a.action === 'study.expired')!.detail.rule).toBe('adult');
  });

  it('manual deletion follows the same two steps', async () => {
    const uid = await storeStudy(s, {
      patientId: 'MANUAL-1',
      birthDate: '19800101',
      studyDate: '20250101',
      modality: 'CT',
    });
    expect((await api('DELETE', `/api/studies/${uid}`, {})).status).toBe(400);
    const res = await api('DELETE', `/api/studies/${uid}`, { reason: 'wrong patient' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect((await explain(uid)).state).toBe('expired');
    expect(await qidoStudy(uid)).toEqual([]);
    // An expired study takes no new instances: the sender is told why, nothing is stored.
    const late = makeInstance({
      studyInstanceUid: uid,
      patientId: 'MANUAL-1',
      studyDate: '20250101',
    });
    const refused = await stow(s.httpUrl, s.auth, [late.part10]);
    expect(refused.status).toBe(409);
    const failed = refused.json!['00081198']!.Value as Record<string, { Value?: unknown[] }>[];
    expect(failed[0]!['00081197']!.Value).toEqual([0xc000]);
    const audit = await api('GET', `/api/audit?studyInstanceUid=${uid}&action=instance.stored`);
    const refusal = (audit.body.events as { outcome: string; detail: { reason?: string } }[]).find(
      (a) => a.outcome === 'failure',
    );
    expect(refusal?.detail.reason).toBe('study-deleted');
    setClock('2026-07-02T12:00:00Z');
    await sweep('purge');
    const gone = await explain(uid);
    expect(gone.state).toBe('purged');
    const cert = await api('GET', `/api/deletions/${String(gone.deletionCertificate)}`);
    expect(
      (cert.body.certificate as { authority: { expiredBy: string; reason: string } }).authority,
    ).toMatchObject({ expiredBy: 'manual', reason: 'wrong patient' });
  });

  it('explain and holds answer clear errors', async () => {
    expect((await api('GET', '/api/studies/1.2.3.999/lifecycle')).status).toBe(404);
    expect((await api('GET', '/api/studies/not-a-uid/lifecycle')).status).toBe(400);
    expect((await api('GET', `/api/studies/1.2.3/lifecycle?at=tomorrow`)).status).toBe(400);
    expect((await api('POST', '/api/holds/999999/release', { reason: 'x' })).status).toBe(404);
    expect((await api('POST', '/api/policies/simulate', { months: 0 })).status).toBe(400);
  });
});
