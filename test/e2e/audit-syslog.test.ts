import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditRow, AuditService } from '../../src/audit/index.js';
import { auditSourceOf, renderDicomAuditMessage } from '../../src/audit/formats/index.js';
import { AUDIT_ROW_COLUMNS, auditRowFrom } from '../../src/audit/audit-row.js';
import { childrenNamed, parseXml } from '../../src/audit/formats/testing/parse-xml.js';
import { parseSyslog } from '../../src/audit/syslog/testing/parse-syslog.js';
import {
  hasRsyslog,
  hasRsyslogTls,
  makeCertificates,
  type Rsyslog,
  startRsyslog,
} from '../support/rsyslog.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const BATCH = 20;

interface Received {
  seq: number;
  raw: Buffer;
  msg: string;
}

/** What the collector wrote, Strata's messages only, in the order they arrived. */
function received(rs: Rsyslog): Received[] {
  return rs
    .messages()
    .map((raw) => ({ raw, p: parseSyslog(raw) }))
    .filter(({ p }) => p.appName === 'strata')
    .map(({ raw, p }) => ({ seq: Number(p.sd['strata@32473']!.seq), raw, msg: p.msg }));
}

async function trail(databaseUrl: string): Promise<AuditRow[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT ${AUDIT_ROW_COLUMNS} FROM audit_events ORDER BY seq`,
    );
    return rows.map(auditRowFrom);
  } finally {
    await db.end();
  }
}

/** Audit rows as the archive's contexts write them (a mix of actions, patients and studies). */
async function produce(s: TestStrata, n: number, tag: string): Promise<void> {
  const audit = s.running.app.get(AuditService);
  for (let i = 0; i < n; i++) {
    const kind = i % 3;
    await audit.recordAlone(
      kind === 0
        ? {
            actor: 'MODALITY1',
            actorHost: '127.0.0.1',
            action: 'instance.stored',
            outcome: 'success',
            patientId: `PID-${tag}-${i}`,
            studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
            instances: 1,
            detail: { adapter: 'dimse-push', source: 'MODALITY1', outcome: 'stored', version: 1 },
          }
        : kind === 1
          ? {
              actor: 'VIEWER1',
              actorHost: '127.0.0.1',
              action: 'study.retrieved',
              outcome: 'success',
              patientId: `PID-${tag}-${i}`,
              studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
              instances: 3,
              detail: { protocol: 'DIMSE C-MOVE', kind: 'instances', destination: 'WS1' },
            }
          : {
              actor: 'FINDSCU',
              actorHost: '127.0.0.1',
              action: 'study.queried',
              outcome: 'success',
              detail: {
                protocol: 'DIMSE C-FIND',
                model: 'study-root',
                level: 'STUDY',
                keys: ['PatientID'],
              },
            },
    );
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 90_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the collector has every row of the trail. */
async function allDelivered(s: TestStrata, rs: Rsyslog): Promise<AuditRow[]> {
  const rows = await trail(s.databaseUrl);
  const last = rows.at(-1)!.seq;
  await until(`row ${last} at the collector`, () => received(rs).some((r) => r.seq === last));
  return rows;
}

/**
 * Every row exactly once, in chain order, its DICOM audit message exactly as rendered. (Rows the
 * archive records on its own after `rows` was read are checked by the next test.)
 */
function expectExactlyOnce(all: Received[], rows: AuditRow[], s: TestStrata): void {
  const got = all.filter((r) => r.seq <= rows.at(-1)!.seq);
  expect(got.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
  const source = auditSourceOf(s.config);
  for (const [i, r] of got.entries()) {
    expect(r.msg).toBe(renderDicomAuditMessage(rows[i]!, source));
  }
}

describe.runIf(hasRsyslog())('the audit trail sent to rsyslog over TCP', () => {
  let rs: Rsyslog;
  let s: TestStrata;

  beforeAll(async () => {
    rs = await startRsyslog();
    s = await startTestStrata({
      configYaml: `
audit:
  syslog: { host: 127.0.0.1, port: ${rs.port}, protocol: tcp, batch: ${BATCH} }
fixity:
  schedule: 'off'
`,
    });
  });

  afterAll(async () => {
    await s?.stop();
    await rs?.stop();
    if (s) removeDataDir(s.dataDir);
    rs?.remove();
  });

  it('every row arrives exactly once, in order, with its DICOM audit message intact', async () => {
    await produce(s, 45, 'a');
    const rows = await allDelivered(s, rs);
    expect(rows.length).toBeGreaterThan(45);
    const got = received(rs);
    expectExactlyOnce(got, rows, s);
    // The XML parses back, with the event the row is.
    const m = parseXml(got.at(-1)!.msg);
    expect(m.name).toBe('AuditMessage');
    expect(childrenNamed(m.children[0]!, 'EventID')[0]!.attributes['csd-code']).toMatch(
      /^1101\d\d$/,
    );
  });

  it('a collector stopped and restarted on the same port gets what was recorded meanwhile, once', async () => {
    await allDelivered(s, rs);
    await rs.stop('SIGTERM');
    await produce(s, 30, 'b');
    // The sender tries and backs off while nothing listens.
    await new Promise((r) => setTimeout(r, 1_500));
    await rs.start();
    const rows = await allDelivered(s, rs);
    expectExactlyOnce(received(rs), rows, s);
  });

  it('a collector stopped mid-stream, rows still coming: nothing lost, a duplicate only of the batch in flight', async () => {
    const before = received(rs).length;
    let producing = true;
    const producer = (async () => {
      let i = 0;
      while (producing) {
        await produce(s, 1, `c${i++}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await until('a few batches', () => received(rs).length > before + 2 * BATCH);
    await rs.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_000));
    await rs.start();
    await new Promise((r) => setTimeout(r, 500));
    producing = false;
    await producer;
    const rows = await allDelivered(s, rs);
    const got = received(rs);
    // Nothing lost: every row of the trail, in order of first arrival.
    const first = new Map<number, Received>();
    for (const r of got) if (!first.has(r.seq) && r.seq <= rows.at(-1)!.seq) first.set(r.seq, r);
    expect([...first.keys()]).toEqual(rows.map((r) => r.seq));
    // Duplicates (if the stop caught a batch in flight) are whole copies, from one batch at most.
    const dups = got.filter((r, i) => got.findIndex((x) => x.seq === r.seq) !== i);
    for (const d of dups) expect(d.raw.equals(first.get(d.seq)!.raw)).toBe(true);
    if (dups.length > 0) {
      const seqs = dups.map((d) => d.seq);
      expect(Math.max(...seqs) - Math.min(...seqs)).toBeLessThan(BATCH);
    }
    console.warn(`collector stopped mid-stream: ${dups.length} duplicate(s) of a batch in flight`);
  });

  it('Strata restarted mid-stream (gracefully): everything arrives exactly once', async () => {
    await allDelivered(s, rs);
    // A backlog: the collector down while rows are recorded.
    await rs.stop('SIGTERM');
    const already = received(rs).length;
    await produce(s, 150, 'd');
    await rs.start();
    // Restart once the backlog is flowing (or at once if it was quicker than the poll).
    await until('the backlog flowing', () => received(rs).length > already, 30_000);
    s = await s.restart();
    await produce(s, 20, 'e');
    const rows = await allDelivered(s, rs);
    expectExactlyOnce(received(rs), rows, s);
  });

  it('Strata restarted while the collector is down: the spool survives, nothing lost or doubled', async () => {
    await allDelivered(s, rs);
    await rs.stop('SIGTERM');
    await produce(s, 25, 'f');
    s = await s.restart();
    await produce(s, 5, 'g');
    await rs.start();
    const rows = await allDelivered(s, rs);
    expectExactlyOnce(received(rs), rows, s);
  });
});

describe.runIf(hasRsyslog() && hasRsyslogTls())(
  'the audit trail sent to rsyslog over TLS (RFC 5425)',
  () => {
    let rs: Rsyslog;
    let s: TestStrata;
    let certs: ReturnType<typeof makeCertificates>;
    let certDir: string;

    beforeAll(async () => {
      certDir = mkdtempSync(join(tmpdir(), 'strata-syslog-certs-'));
      certs = makeCertificates(certDir);
      // The collector accepts only senders with a certificate from its CA (mutual TLS).
      rs = await startRsyslog({
        tls: {
          caFile: certs.caFile,
          certFile: certs.serverCert,
          keyFile: certs.serverKey,
          requireClientCert: true,
        },
      });
      s = await startTestStrata({
        configYaml: `
audit:
  syslog:
    host: 127.0.0.1
    port: ${rs.port}
    protocol: tls
    caFile: '${certs.caFile}'
    certFile: '${certs.clientCert}'
    keyFile: '${certs.clientKey}'
    pseudonymize: true
    batch: ${BATCH}
fixity:
  schedule: 'off'
`,
      });
    });

    afterAll(async () => {
      await s?.stop();
      await rs?.stop();
      if (s) removeDataDir(s.dataDir);
      rs?.remove();
      rmSync(certDir, { recursive: true, force: true });
    });

    it('every row arrives once, in order, pseudonymised: no patient ID reaches the collector', async () => {
      await produce(s, 30, 'tls');
      const rows = await allDelivered(s, rs);
      const got = received(rs).filter((r) => r.seq <= rows.at(-1)!.seq);
      expect(got.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
      const text = Buffer.concat(got.map((r) => r.raw)).toString('utf8');
      const patients = rows.filter((r) => r.patientId).map((r) => r.patientId!);
      expect(patients.length).toBeGreaterThan(10);
      for (const id of patients) expect(text).not.toContain(id);
      // The same patient always gets the same pseudonym; the chain hash is not sent.
      const pseudonyms = got.flatMap((r) =>
        childrenNamed(parseXml(r.msg), 'ParticipantObjectIdentification')
          .filter((o) => o.attributes.ParticipantObjectTypeCodeRole === '1')
          .map((o) => o.attributes.ParticipantObjectID),
      );
      expect(pseudonyms.length).toBe(patients.length);
      expect(pseudonyms.every((p) => /^PSEUDO-[0-9a-f]{32}$/.test(p!))).toBe(true);
      expect(new Set(pseudonyms).size).toBe(new Set(patients).size);
      expect(got.every((r) => !parseSyslog(r.raw).sd['strata@32473']!.hash)).toBe(true);
    });

    it('the collector takes no message from a sender without a client certificate', async () => {
      const before = rs.messages().length;
      await new Promise<void>((done) => {
        const c = tlsConnect({ host: '127.0.0.1', port: rs.port, ca: readFileSync(certs.caFile) });
        c.on('error', () => done());
        c.on('close', () => done());
        c.on('secureConnect', () => c.end('12 <85>1 - - - '));
        c.resume();
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(rs.messages().length).toBe(before);
    });

    it('survives a collector restart over TLS', async () => {
      await rs.stop('SIGTERM');
      await produce(s, 10, 'tls2');
      await rs.start();
      const rows = await allDelivered(s, rs);
      expect(
        received(rs)
          .filter((r) => r.seq <= rows.at(-1)!.seq)
          .map((r) => r.seq),
      ).toEqual(rows.map((r) => r.seq));
    });
  },
);
