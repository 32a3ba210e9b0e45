import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';

/** The host the audit trail recorded for the last QIDO-RS search. */
async function lastQueryHost(s: TestStrata): Promise<string | null> {
  const [row] = await s.running.database.database.query<{ actor_host: string | null }>(
    `SELECT actor_host FROM audit_events WHERE actor = 'admin' ORDER BY seq DESC LIMIT 1`,
  );
  return row?.actor_host ?? null;
}

async function searchVia(s: TestStrata, forwardedFor: string): Promise<void> {
  const res = await fetch(`${s.httpUrl}/dicomweb/studies`, {
    headers: { authorization: s.auth, 'x-forwarded-for': forwardedFor },
  });
  expect([200, 204]).toContain(res.status);
}

describe('behind a reverse proxy (STRATA_TRUST_PROXY)', () => {
  let trusting: TestStrata;
  let wary: TestStrata;

  beforeAll(async () => {
    [trusting, wary] = await Promise.all([
      startTestStrata({ env: { STRATA_TRUST_PROXY: 'loopback' } }),
      // A proxy elsewhere: requests from loopback are not from it, so their header is not believed.
      startTestStrata({ env: { STRATA_TRUST_PROXY: '10.9.8.7' } }),
    ]);
  });
  afterAll(async () => {
    await trusting?.stop();
    await wary?.stop();
  });

  it("records the client's address from X-Forwarded-For when the proxy is trusted", async () => {
    await searchVia(trusting, '203.0.113.7');
    expect(await lastQueryHost(trusting)).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from anyone else (a client cannot choose its audited address)', async () => {
    await searchVia(wary, '203.0.113.7');
    expect(await lastQueryHost(wary)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});
