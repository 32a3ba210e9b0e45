import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDataSet } from '../../src/dicom/index.js';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { CommandField, DimseClient } from '../../src/dimse/index.js';
import { datasetOf } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const NAME = 'Qwertzuio^Metricsperson';

/**
 * Issue 7, items 1 and 2: after a C-STORE, a STOW-RS, a QIDO-RS, a WADO-RS and a C-FIND, the
 * admin's GET /metrics shows each of them with the right labels and counts, the catalog figures
 * (tier bytes and studies), the pool and the event loop; the process's log is one JSON object a
 * line, each HTTP request's lines carry the request id returned in X-Request-Id, a DICOM
 * association's lines share its id and end with a summary naming the calling AE, and the QIDO
 * query string's patient name appears nowhere in the log.
 */
describe('metrics and structured logs', () => {
  let s: TestStrata;
  const out: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const dimse = makeInstance({ sopClassUid: CT, patientName: NAME });
  const web = makeInstance({ sopClassUid: CT, patientName: NAME });

  function capture(chunk: unknown, ...rest: unknown[]): boolean {
    out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
    (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
    return true;
  }
  /** The JSON log lines written so far (anything else on stdout is vitest's, or an error). */
  const lines = () =>
    out
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const associate = (callingAet: string, abstractSyntax: string) =>
    DimseClient.connect({
      host: '127.0.0.1',
      port: s.dicomPort,
      callingAet,
      calledAet: 'STRATA',
      contexts: [{ abstractSyntax, transferSyntaxes: [EXPLICIT_LE] }],
    });
  const metricsText = async () => {
    const res = await fetch(`${s.httpUrl}/metrics`, { headers: { authorization: s.auth } });
    expect(res.status).toBe(200);
    return res.text();
  };
  /** The value of one sample, e.g. value(text, 'strata_x{a="b"}'); undefined when absent. */
  const value = (text: string, sample: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? undefined : Number(line.slice(sample.length + 1));
  };

  /** A syslog collector that is down: the audit rows wait in the spool (the backlog gauge). */
  let syslogPort = 0;

  beforeAll(async () => {
    process.stdout.write = capture as typeof process.stdout.write;
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    syslogPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    s = await startTestStrata({
      env: { STRATA_LOG_LEVEL: 'info' },
      configYaml: `
dicom:
  peers:
    MODALITY: { host: 127.0.0.1, port: 1, allow: [store, query] }
    VIEWER: { host: 127.0.0.1, port: 1, allow: [query] }
audit:
  syslog: { host: 127.0.0.1, port: ${syslogPort}, protocol: tcp }
fixity:
  schedule: 'off'
`,
    });

    // Jobs of a kind no node runs, as the queue would hold them: one paused, one 40 % done.
    const db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
    await db.query(
      `INSERT INTO jobs (kind, status, params, actor, total, done)
       VALUES ('metrics-test', 'paused', '{}', 'test', 0, 0),
              ('metrics-test', 'running', '{}', 'test', 10, 4)`,
    );
    await db.end();

    // A C-STORE from a configured peer, and one refused (VIEWER may only query).
    for (const aet of ['MODALITY', 'VIEWER']) {
      const client = await associate(aet, CT);
      const r = await client.store({
        sopClassUid: CT,
        sopInstanceUid: dimse.sopInstanceUid,
        transferSyntaxUid: EXPLICIT_LE,
        data: Readable.from([datasetOf(dimse.part10)]),
      });
      expect(r.status).toBe(aet === 'MODALITY' ? 0 : 0x0124);
      await client.release();
    }
    // And one the pipeline refuses: cut short.
    const cut = makeInstance({ sopClassUid: CT });
    const client = await associate('MODALITY', CT);
    const bytes = datasetOf(cut.part10);
    const r = await client.store({
      sopClassUid: CT,
      sopInstanceUid: cut.sopInstanceUid,
      transferSyntaxUid: EXPLICIT_LE,
      data: Readable.from([bytes.subarray(0, bytes.length - 700)]),
    });
    expect(r.status).not.toBe(0);
    await client.release();
    expect((await stow(s.httpUrl, s.auth, [web.part10])).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    process.stdout.write = writes.out;
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('/metrics needs the admin token', async () => {
    expect((await fetch(`${s.httpUrl}/metrics`)).status).toBe(401);
  });

  it('counts ingest, retrievals, tiers, jobs, the pool and the event loop', async () => {
    const qido = await fetch(`${s.httpUrl}/dicomweb/studies?PatientName=Qwertzuio*`, {
      headers: { authorization: s.auth, 'x-request-id': 'metrics-test-qido-1' },
    });
    expect(qido.status).toBe(200);
    expect(((await qido.json()) as unknown[]).length).toBe(2);
    const wado = await fetch(`${s.httpUrl}/dicomweb/studies/${web.studyInstanceUid}`, {
      headers: { authorization: s.auth, accept: 'multipart/related; type="application/dicom"' },
    });
    expect(wado.status).toBe(200);
    expect((await wado.arrayBuffer()).byteLength).toBeGreaterThan(web.dataset.length);
    const client = await associate('MODALITY', STUDY_ROOT_FIND);
    const found = await client.query({
      commandField: CommandField.CFindRq,
      sopClassUid: STUDY_ROOT_FIND,
      transferSyntaxUid: EXPLICIT_LE,
      identifier: encodeDataSet(
        { '00080052': { vr: 'CS', Value: ['STUDY'] }, '0020000D': { vr: 'UI' } },
        EXPLICIT_LE,
      ),
    });
    expect(found.status).toBe(0);
    await client.release();

    const m = await metricsText();
    // Ingest: by adapter, source (a configured peer's AE) and outcome.
    expect(
      value(
        m,
        'strata_ingest_instances_total{adapter="dimse-push",source="MODALITY",outcome="stored"}',
      ),
    ).toBe(1);
    expect(value(m, 'strata_ingest_bytes_total{adapter="dimse-push",source="MODALITY"}')).toBe(
      dimse.dataset.length,
    );
    expect(m).toMatch(
      /^strata_ingest_instances_total\{adapter="stow-push",source="[^"]+",outcome="stored"\} 1$/m,
    );
    expect(
      value(
        m,
        'strata_ingest_instances_total{adapter="dimse-push",source="MODALITY",outcome="refused"}',
      ),
    ).toBe(1);
    expect(m).toMatch(
      /^strata_ingest_refusals_total\{adapter="dimse-push",reason="(truncated|malformed)"\} 1$/m,
    );
    expect(value(m, 'strata_ingest_duration_seconds_count{adapter="dimse-push"}')).toBe(2);
    // VIEWER may only query: its C-STORE was refused by the adapter.
    expect(
      value(m, 'strata_ingest_refusals_total{adapter="dimse-push",reason="not-authorized"}'),
    ).toBe(1);
    expect(value(m, 'strata_ingest_duration_seconds_count{adapter="stow-push"}')).toBe(1);
    expect(value(m, 'strata_ingest_duration_seconds_bucket{le="60",adapter="dimse-push"}')).toBe(2);
    // Retrievals.
    expect(
      value(m, 'strata_retrievals_total{protocol="qido-rs",kind="study",outcome="success"}'),
    ).toBe(1);
    expect(
      value(m, 'strata_retrievals_total{protocol="wado-rs",kind="instances",outcome="success"}'),
    ).toBe(1);
    expect(
      value(m, 'strata_retrievals_total{protocol="c-find",kind="study-root",outcome="success"}'),
    ).toBe(1);
    expect(
      value(m, 'strata_retrieval_duration_seconds_count{protocol="wado-rs",kind="instances"}'),
    ).toBe(1);
    expect(
      value(m, 'strata_retrieval_duration_seconds_count{protocol="c-find",kind="study-root"}'),
    ).toBe(1);
    // What the tiers hold: both instances, on the hot tier, encrypted (a little larger).
    expect(value(m, 'strata_tier_bytes{tier="hot"}')).toBeGreaterThan(
      dimse.dataset.length + web.dataset.length,
    );
    expect(value(m, 'strata_tier_studies{tier="hot"}')).toBe(2);
    expect(value(m, 'strata_tier_bytes{tier="cold"}')).toBe(0);
    // The job queue: by kind and status, and the running jobs' progress.
    expect(value(m, 'strata_jobs{kind="metrics-test",status="paused"}')).toBe(1);
    expect(value(m, 'strata_jobs{kind="metrics-test",status="running"}')).toBe(1);
    expect(value(m, 'strata_jobs{kind="metrics-test",status="queued"}')).toBe(0);
    expect(value(m, 'strata_job_progress_ratio{kind="metrics-test"}')).toBe(0.4);
    // Fixity, the pool, the event loop.
    expect(m).toContain('# TYPE strata_fixity_copies_checked_total counter');
    expect(value(m, 'strata_copies_bad{tier="hot",status="corrupt"}')).toBe(0);
    expect(value(m, 'strata_db_pool_connections{state="total"}')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'strata_db_pool_connections{state="waiting"}')).toBe(0);
    // The audit rows of the stores and queries wait for the collector.
    expect(
      value(m, `strata_audit_syslog_backlog{destination="tcp://127.0.0.1:${syslogPort}"}`),
    ).toBeGreaterThanOrEqual(4);
    expect(value(m, 'strata_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(m).toMatch(/^strata_nodejs_eventloop_lag_p99_seconds \d/m);
    // No UID and no patient data as a label value.
    expect(m).not.toContain(web.studyInstanceUid);
    expect(m).not.toMatch(/Qwertzuio/);
  });

  it('logs one JSON object a line, with the request id of each HTTP request', async () => {
    const res = await fetch(`${s.httpUrl}/dicomweb/studies?PatientName=Qwertzuio*`, {
      headers: { authorization: s.auth, 'x-request-id': 'metrics-test-qido-2' },
    });
    expect(res.headers.get('x-request-id')).toBe('metrics-test-qido-2');
    await res.arrayBuffer();
    // Without a usable id of its own (this one has a space), a request gets a new one.
    const other = await fetch(`${s.httpUrl}/api/sources`, {
      headers: { authorization: s.auth, 'x-request-id': 'not safe' },
    });
    await other.arrayBuffer();
    const generated = other.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 100));

    const all = lines();
    for (const l of all) {
      expect(typeof l.level).toBe('string');
      expect(typeof l.time).toBe('string');
    }
    const mine = all.filter((l) => l.requestId === 'metrics-test-qido-2');
    expect(mine.length).toBeGreaterThanOrEqual(1);
    const access = mine.find((l) => l.context === 'HTTP');
    expect(access).toMatchObject({
      level: 'info',
      method: 'GET',
      path: '/dicomweb/studies',
      route: '/dicomweb/studies',
      status: 200,
      actor: 'admin',
    });
    expect(access!.durationMs).toEqual(expect.any(Number));
    expect(access!.bytesOut).toBeGreaterThan(0);
    expect(all.some((l) => l.requestId === generated && l.path === '/api/sources')).toBe(true);
    // The QIDO query string (a patient's name) is in no line.
    expect(out.join('')).not.toMatch(/Qwertzuio|Metricsperson/);
  });

  it("a DICOM association's lines share its id and end with a summary naming the calling AE", async () => {
    const all = lines();
    const summary = all.find(
      (l) => l.callingAet === 'VIEWER' && l.operations !== undefined && l.context === 'DIMSE',
    );
    expect(summary).toMatchObject({
      level: 'info',
      calledAet: 'STRATA',
      outcome: 'released',
      operations: { 'C-STORE': 1 },
      stored: 0,
      failed: 1,
    });
    expect(summary!.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    const id = summary!.association as string;
    const ofIt = all.filter((l) => l.association === id);
    // The refusal (logged by the C-STORE handler) and the summary, both with the id.
    expect(ofIt.some((l) => String(l.msg).includes('refused C-STORE from VIEWER'))).toBe(true);
    expect(ofIt.at(-1)).toBe(summary);
    const stored = all.find((l) => l.callingAet === 'MODALITY' && l.stored === 1);
    expect(stored).toMatchObject({ outcome: 'released', operations: { 'C-STORE': 1 } });
    expect(stored!.association).not.toBe(id);
  });
});
