import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../../src/dicom/testing/index.js';
import {
  AssociationRejectedError,
  DimseClient,
  DimseStatus,
  VERIFICATION_SOP_CLASS,
} from '../../src/dimse/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MiB = 1024 * 1024;
const dcmtk = hasTool('echoscu');

/**
 * Overload (issue 7): with tiny limits, work beyond them is refused with the standard transient
 * answers (A-ASSOCIATE-RJ result 2 / source 3; HTTP 503 problem details with Retry-After), the
 * work already admitted finishes, and once the load drops the same requests succeed.
 */
describe('overload limits', () => {
  let s: TestStrata;
  const open: DimseClient[] = [];

  const associate = (callingAet = 'LOADPEER', abstractSyntax = VERIFICATION_SOP_CLASS) =>
    DimseClient.connect({
      host: '127.0.0.1',
      port: s.dicomPort,
      callingAet,
      calledAet: 'STRATA',
      contexts: [
        { abstractSyntax, transferSyntaxes: ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'] },
      ],
    });
  const rejection = async (callingAet = 'LOADPEER') => {
    const error = await associate(callingAet).then(
      async (c) => {
        await c.release();
        return null;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AssociationRejectedError);
    const { result, source, reason } = error as AssociationRejectedError;
    return { result, source, reason };
  };
  const metric = async (name: string, labels = ''): Promise<number> => {
    const res = await fetch(`${s.httpUrl}/metrics`, { headers: { authorization: s.auth } });
    const text = await res.text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };
  const until = async (what: string, test: () => Promise<boolean>, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!(await test())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const expect503 = async (what: RegExp) => {
    const res = await fetch(`${s.httpUrl}/dicomweb/studies`, {
      method: 'POST',
      headers: {
        authorization: s.auth,
        'content-type': 'multipart/related; type="application/dicom"; boundary=x',
      },
      body: '--x\r\nContent-Type: application/dicom\r\n\r\nnot read\r\n--x--\r\n',
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(String(body.detail)).toMatch(what);
  };

  beforeAll(async () => {
    s = await startTestStrata({
      configYaml: [
        'limits:',
        '  maxAssociations: 2',
        '  maxStowRequests: 1',
        '  maxInFlightMiB: 1',
        '  retryAfterSeconds: 7',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    for (const c of open) c.abort();
    await s?.stop();
    removeDataDir(s.dataDir);
  });

  it('rejects a third concurrent association as transient (local limit exceeded), audited once', async () => {
    const seqBefore = await auditSeq(s);
    open.push(await associate(), await associate());
    // PS3.8 Table 9-21: rejected-transient, service-provider (presentation), local-limit-exceeded.
    expect(await rejection()).toEqual({ result: 2, source: 3, reason: 2 });
    expect(await rejection('OTHERPEER')).toEqual({ result: 2, source: 3, reason: 2 });
    expect(await rejection()).toEqual({ result: 2, source: 3, reason: 2 });
    if (dcmtk) {
      const echo = await runTool('echoscu', ['-aec', 'STRATA', '127.0.0.1', String(s.dicomPort)]);
      expect(echo.code).not.toBe(0);
      expect(echo.stdout + echo.stderr).toMatch(/Association Rejected/);
      expect(echo.stdout + echo.stderr).toMatch(/Rejected Transient/);
      expect(echo.stdout + echo.stderr).toMatch(/Service Provider \(Presentation Related\)/);
      expect(echo.stdout + echo.stderr).toMatch(/Local Limit Exceeded/);
    }
    expect(
      await metric('strata_overload_refusals_total', '{protocol="DIMSE",limit="associations"}'),
    ).toBe(dcmtk ? 4 : 3);
    // One audit row for the storm (the rest are counted), naming the limit.
    const rows = await s.running.database.database.query<{ actor: string; detail: unknown }>(
      `SELECT actor, detail FROM audit_events WHERE action = 'association.refused' AND seq > $1`,
      [seqBefore],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor: 'LOADPEER',
      detail: { limit: 'associations', transient: true, refusedSinceLastReport: 0 },
    });

    // Load drops: the next association is accepted.
    await open.pop()!.release();
    const again = await associate();
    await again.release();
    await Promise.all(open.splice(0).map((c) => c.release()));
  });

  it('answers STOW-RS beyond maxStowRequests with 503, Retry-After and problem details', async () => {
    const inst = makeInstance({ sopClassUid: CT, pixelBytes: 64 * 1024 });
    const boundary = 'held-request';
    const held = request(`${s.httpUrl}/dicomweb/studies`, {
      method: 'POST',
      headers: {
        authorization: s.auth,
        accept: 'application/dicom+json',
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      },
    });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      held.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      held.on('error', reject);
    });
    held.write(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
    held.write(inst.part10.subarray(0, 1000));
    await until(
      'the held request to be received',
      async () => (await metric('strata_ingest_in_flight_bytes')) > 0,
    );

    await expect503(/STOW-RS requests in progress \(limits\.maxStowRequests: 1\)/);
    expect(
      await metric('strata_overload_refusals_total', '{protocol="STOW-RS",limit="stow-requests"}'),
    ).toBe(1);

    // The request admitted first is not disturbed, and once it is done the next one gets in.
    held.end(Buffer.concat([inst.part10.subarray(1000), Buffer.from(`\r\n--${boundary}--\r\n`)]));
    expect((await answer).status).toBe(200);
    const next = makeInstance({ sopClassUid: CT, pixelBytes: 2_000 });
    expect((await stow(s.httpUrl, s.auth, [next.part10])).status).toBe(200);
  });

  it('refuses new associations (temporary congestion) and STOW-RS (503) while the in-flight budget is spent, and never cuts the instance in progress', async () => {
    const inst = makeInstance({ sopClassUid: CT, pixelBytes: 3 * MiB });
    const client = await associate('LOADPEER', CT);
    open.push(client);
    const data = new PassThrough();
    const storing = client.store({
      sopClassUid: CT,
      sopInstanceUid: inst.sopInstanceUid,
      transferSyntaxUid: inst.transferSyntaxUid,
      data,
    });
    // All but the last 256 KiB: DimseClient sends whole 1 MiB PDUs, so two of them go out.
    const held = inst.dataset.length - 256 * 1024;
    data.write(inst.dataset.subarray(0, held));
    await until(
      'more than 1 MiB in flight',
      async () => (await metric('strata_ingest_in_flight_bytes')) >= MiB,
    );

    // Below maxAssociations (1 of 2 open), but the budget is spent: PS3.8 reason 1.
    expect(await rejection()).toEqual({ result: 2, source: 3, reason: 1 });
    if (dcmtk) {
      const echo = await runTool('echoscu', ['-aec', 'STRATA', '127.0.0.1', String(s.dicomPort)]);
      expect(echo.code).not.toBe(0);
      expect(echo.stdout + echo.stderr).toMatch(/Rejected Transient/);
      expect(echo.stdout + echo.stderr).toMatch(/Temporary Congestion/);
    }
    await expect503(/MiB in flight \(limits\.maxInFlightMiB: 1\)/);

    // The instance in progress completes and is stored.
    data.end(inst.dataset.subarray(held));
    expect((await storing).status).toBe(DimseStatus.Success);
    await client.release();
    open.splice(open.indexOf(client), 1);
    expect(await metric('strata_ingest_in_flight_bytes')).toBe(0);
    const stored = await s.running.database.database.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = $1',
      [inst.sopInstanceUid],
    );
    expect(stored[0]!.n).toBe(1);

    // Load dropped: associations and STOW-RS get in again.
    const again = await associate();
    await again.release();
    const next = makeInstance({ sopClassUid: CT, pixelBytes: 2_000 });
    expect((await stow(s.httpUrl, s.auth, [next.part10])).status).toBe(200);
  });
});

async function auditSeq(s: TestStrata): Promise<string> {
  const rows = await s.running.database.database.query<{ seq: string }>(
    'SELECT coalesce(max(seq), 0)::text AS seq FROM audit_events',
  );
  return rows[0]!.seq;
}
