import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tokenCommand } from '../../src/cli/token.command.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { parseMultipart } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import {
  removeDataDir,
  startTestStrata,
  testEnv,
  type TestStrata,
} from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

interface TokenAnswer {
  id: string;
  token: string;
  name: string;
  role: string;
  source: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

/**
 * API tokens (issue 6): created by an admin with a role, shown once, stored hashed, listed without
 * secrets, expiring and revocable, each operation audited; `strata token` does the same. And what
 * "its source only" means for a pacs token: it finds and reads only the instances recorded under
 * its source, and the studies and series that hold them.
 */
describe('API tokens and a pacs token’s view of the archive', () => {
  let s: TestStrata;
  let db: pg.Client;

  const api = async (method: string, path: string, auth: string, body?: unknown) => {
    const res = await fetch(`${s.httpUrl}${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as unknown) : null };
  };
  const create = async (body: Record<string, unknown>) => {
    const r = await api('POST', '/api/tokens', s.auth, body);
    expect(r.status, r.text).toBe(201);
    return r.json as TokenAnswer;
  };
  const bearer = (t: TokenAnswer) => `Bearer ${t.token}`;
  const lastAudit = async (action: string) =>
    (
      await db.query(
        `SELECT actor, role, outcome, detail FROM audit_events WHERE action = $1 ORDER BY seq DESC LIMIT 1`,
        [action],
      )
    ).rows[0] as {
      actor: string;
      role: string | null;
      outcome: string;
      detail: Record<string, unknown>;
    };

  beforeAll(async () => {
    s = await startTestStrata({
      configYaml: `
sources:
  ris-uploads: { adapter: stow-push, token: ris }
fixity:
  schedule: 'off'
`,
    });
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
  }, 120_000);
  afterAll(async () => {
    await db?.end();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('creates a token whose secret is shown once and stored only as a hash, and audits it', async () => {
    const t = await create({ role: 'auditor', name: 'compliance', expiresAt: '2099-01-01' });
    expect(t).toMatchObject({
      name: 'compliance',
      role: 'auditor',
      source: null,
      expiresAt: '2099-01-01T00:00:00Z',
      revokedAt: null,
    });
    expect(t.id).toMatch(/^\d+$/);
    expect(t.token).toMatch(/^strata_[A-Za-z0-9_-]{32}$/);
    expect((await api('GET', '/api/holds', bearer(t))).status).toBe(200);

    const list = await api('GET', '/api/tokens', s.auth);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(t.token);
    const listed = (list.json as { tokens: Record<string, unknown>[] }).tokens;
    const mine = listed.find((x) => x.id === t.id)!;
    expect(mine).toMatchObject({ name: 'compliance', role: 'auditor', createdBy: 'admin' });
    expect(mine.lastUsedAt).not.toBeNull();
    expect(Object.keys(mine)).not.toContain('token');
    const stored = await db.query('SELECT token_hash FROM api_tokens WHERE id = $1', [t.id]);
    expect(Buffer.from(stored.rows[0].token_hash).toString('latin1')).not.toContain(t.token);

    expect(await lastAudit('token.created')).toMatchObject({
      actor: 'admin',
      role: 'admin',
      outcome: 'success',
      detail: { tokenId: t.id, name: 'compliance', tokenRole: 'auditor' },
    });
  });

  it('refuses bad requests with 400 and a second live token of one name with 409', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ role: 'root', name: 'x' }, /role/],
      [{ role: 'auditor' }, /name/],
      [{ role: 'auditor', name: 'has space' }, /name/],
      [{ role: 'auditor', name: 'x', source: 'S' }, /only pacs tokens/],
      [{ role: 'auditor', name: 'x', expiresAt: '2001-01-01' }, /expired already/],
      [{ role: 'auditor', name: 'x', expiresAt: 'tomorrow' }, /expiresAt/],
      [{ role: 'auditor', name: 'admin' }, /kept for admin/],
      [{ role: 'pacs', name: 'ris', source: 'elsewhere' }, /ris-uploads/],
      [{ role: 'auditor', name: 'x', extra: 1 }, /extra|Unrecognized/i],
    ];
    for (const [body, message] of cases) {
      const r = await api('POST', '/api/tokens', s.auth, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((r.json as { detail: string }).detail).toMatch(message);
    }
    await create({ role: 'archivist', name: 'twice' });
    const again = await api('POST', '/api/tokens', s.auth, { role: 'auditor', name: 'twice' });
    expect(again.status).toBe(409);
  });

  it('binds a pacs token to a source: asked for, the stow-push source naming it, or stow:<name>', async () => {
    expect((await create({ role: 'pacs', name: 'site-a', source: 'SITE_A' })).source).toBe(
      'SITE_A',
    );
    expect((await create({ role: 'pacs', name: 'ris' })).source).toBe('ris-uploads');
    expect((await create({ role: 'pacs', name: 'modality-7' })).source).toBe('stow:modality-7');
  });

  it('refuses an expired token with 401, audited with its name and why', async () => {
    const t = await create({ role: 'archivist', name: 'short-lived', expiresAt: '2099-01-01' });
    expect((await api('GET', '/api/holds', bearer(t))).status).toBe(200);
    await db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      t.id,
    ]);
    const r = await api('GET', '/api/holds', bearer(t));
    expect(r.status).toBe(401);
    expect(r.text).toContain('a valid bearer token is required');
    expect(await lastAudit('auth.failed')).toMatchObject({
      actor: 'short-lived',
      outcome: 'failure',
      detail: { reason: 'expired token', tokenId: t.id, path: '/api/holds', method: 'GET' },
    });
  });

  it('revokes a token: it stops working at once, the revocation is audited, the name is free', async () => {
    const t = await create({ role: 'auditor', name: 'leaving' });
    expect((await api('GET', '/dicomweb/studies', bearer(t))).status).toBe(200);
    const r = await api('DELETE', `/api/tokens/${t.id}`, s.auth);
    expect(r.status).toBe(200);
    expect((r.json as TokenAnswer).revokedAt).not.toBeNull();
    expect((await api('GET', '/dicomweb/studies', bearer(t))).status).toBe(401);
    expect((await lastAudit('auth.failed')).detail).toMatchObject({ reason: 'revoked token' });
    expect(await lastAudit('token.revoked')).toMatchObject({
      actor: 'admin',
      detail: { tokenId: t.id, name: 'leaving' },
    });
    expect((await api('DELETE', `/api/tokens/${t.id}`, s.auth)).status).toBe(409);
    expect((await api('DELETE', '/api/tokens/987654', s.auth)).status).toBe(404);
    expect((await api('DELETE', '/api/tokens/nope', s.auth)).status).toBe(404);
    const successor = await create({ role: 'auditor', name: 'leaving' });
    expect(successor.id).not.toBe(t.id);
  });

  it('a token may not create tokens unless it is an admin token', async () => {
    const t = await create({ role: 'archivist', name: 'ambitious' });
    const r = await api('POST', '/api/tokens', bearer(t), { role: 'admin', name: 'mine' });
    expect(r.status).toBe(403);
    const admin = await create({ role: 'admin', name: 'second-admin' });
    expect((await api('GET', '/api/tokens', bearer(admin))).status).toBe(200);
  });

  describe('a pacs token sees its source’s instances only', () => {
    let pacs: TokenAnswer;
    let auditor: TokenAnswer;
    let archivist: TokenAnswer;
    const shared = newUid();
    const foreign = newUid();
    const series = newUid();
    const mine = [1, 2].map((n) =>
      makeInstance({
        studyInstanceUid: shared,
        seriesInstanceUid: series,
        sopClassUid: CT,
        instanceNumber: n,
      }),
    );
    // Another source's instance in the same study and series, and another source's study.
    const theirs = makeInstance({
      studyInstanceUid: shared,
      seriesInstanceUid: series,
      sopClassUid: CT,
      instanceNumber: 3,
    });
    const other = makeInstance({ studyInstanceUid: foreign, sopClassUid: CT });

    const uids = async (path: string, auth: string, tag: string) => {
      const r = await fetch(`${s.httpUrl}${path}`, {
        headers: { authorization: auth, accept: 'application/dicom+json' },
      });
      expect(r.status, path).toBe(200);
      const body = (await r.json()) as Record<string, { Value?: string[] }>[];
      return body.map((d) => d[tag]?.Value?.[0]).sort();
    };
    const wado = async (path: string, auth: string) => {
      const r = await fetch(`${s.httpUrl}${path}`, {
        headers: {
          authorization: auth,
          accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
      });
      if (r.status !== 200) return { status: r.status, parts: 0 };
      const parts = parseMultipart(
        Buffer.from(await r.arrayBuffer()),
        r.headers.get('content-type')!,
      );
      return { status: r.status, parts: parts.length };
    };

    beforeAll(async () => {
      pacs = await create({ role: 'pacs', name: 'pacs-east', source: 'EAST' });
      auditor = await create({ role: 'auditor', name: 'auditor-2' });
      archivist = await create({ role: 'archivist', name: 'archivist-2' });
      expect(
        (
          await stow(
            s.httpUrl,
            bearer(pacs),
            mine.map((i) => i.part10),
          )
        ).status,
      ).toBe(200);
      expect((await stow(s.httpUrl, s.auth, [theirs.part10, other.part10])).status).toBe(200);
    });

    it('records its STOW-RS under its source', async () => {
      const rows = await db.query(
        `SELECT i.sop_instance_uid, v.source FROM instances i JOIN instance_versions v ON v.instance_fk = i.id
          WHERE i.sop_instance_uid = ANY($1::text[]) ORDER BY i.sop_instance_uid`,
        [[...mine, theirs].map((i) => i.sopInstanceUid)],
      );
      const bySop = Object.fromEntries(rows.rows.map((r) => [r.sop_instance_uid, r.source]));
      for (const i of mine) expect(bySop[i.sopInstanceUid]).toBe('EAST');
      expect(bySop[theirs.sopInstanceUid]).toBe('stow:admin');
    });

    it('finds (QIDO-RS) only the studies, series and instances holding its instances', async () => {
      expect(await uids('/dicomweb/studies', bearer(pacs), '0020000D')).toEqual([shared]);
      expect(await uids('/dicomweb/series', bearer(pacs), '0020000E')).toEqual([series]);
      expect(await uids(`/dicomweb/studies/${shared}/instances`, bearer(pacs), '00080018')).toEqual(
        mine.map((i) => i.sopInstanceUid).sort(),
      );
      expect(await uids(`/dicomweb/studies/${foreign}/series`, bearer(pacs), '0020000E')).toEqual(
        [],
      );
      // Other roles see everything.
      expect(await uids('/dicomweb/studies', bearer(archivist), '0020000D')).toEqual(
        [shared, foreign].sort(),
      );
      expect(
        await uids(`/dicomweb/studies/${shared}/instances`, bearer(auditor), '00080018'),
      ).toHaveLength(3);
    });

    it('reads (WADO-RS) only its instances: the others are not there for it (404)', async () => {
      expect(await wado(`/dicomweb/studies/${shared}`, bearer(pacs))).toEqual({
        status: 200,
        parts: 2,
      });
      expect(await wado(`/dicomweb/studies/${foreign}`, bearer(pacs))).toMatchObject({
        status: 404,
      });
      const theirsPath = `/dicomweb/studies/${shared}/series/${series}/instances/${theirs.sopInstanceUid}`;
      expect((await wado(theirsPath, bearer(pacs))).status).toBe(404);
      const meta = await fetch(`${s.httpUrl}/dicomweb/studies/${shared}/metadata`, {
        headers: { authorization: bearer(pacs), accept: 'application/dicom+json' },
      });
      expect(((await meta.json()) as unknown[]).length).toBe(2);
      const foreignMeta = await fetch(`${s.httpUrl}/dicomweb/studies/${foreign}/metadata`, {
        headers: { authorization: bearer(pacs), accept: 'application/dicom+json' },
      });
      expect(foreignMeta.status).toBe(404);
    });

    it('gives the auditor metadata but no pixel data', async () => {
      const meta = await fetch(`${s.httpUrl}/dicomweb/studies/${shared}/metadata`, {
        headers: { authorization: bearer(auditor), accept: 'application/dicom+json' },
      });
      expect(meta.status).toBe(200);
      expect(((await meta.json()) as unknown[]).length).toBe(3);
      expect((await wado(`/dicomweb/studies/${shared}`, bearer(auditor))).status).toBe(403);
    });
  });

  describe('strata token', () => {
    const saved = { ...process.env };
    let out: string[];
    let err: string[];
    const run = async (...args: string[]) => {
      out = [];
      err = [];
      const log = vi
        .spyOn(console, 'log')
        .mockImplementation((m: unknown) => void out.push(String(m)));
      const error = vi
        .spyOn(console, 'error')
        .mockImplementation((m: unknown) => void err.push(String(m)));
      try {
        return await tokenCommand(args, { log: () => undefined, warn: () => undefined });
      } finally {
        log.mockRestore();
        error.mockRestore();
      }
    };

    beforeAll(() => {
      // The CLI reads the same environment as the server; it runs in this process here.
      Object.assign(process.env, testEnv(s.dataDir, s.databaseUrl), {
        STRATA_CONFIG: s.config.configFile!,
      });
    });
    afterAll(() => {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    });

    it('creates, lists and revokes, and the secret it prints works over HTTP', async () => {
      expect(
        await run(
          'create',
          '--role',
          'auditor',
          '--name',
          'cli-auditor',
          '--expires',
          '2099-06-30',
        ),
      ).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(
        /created #\d+ {2}cli-auditor {2}auditor {2}expires 2099-06-30T00:00:00Z/,
      );
      const secret = /strata_[A-Za-z0-9_-]{32}/.exec(text)![0];
      const id = /created #(\d+)/.exec(text)![1]!;
      expect((await api('GET', '/api/holds', `Bearer ${secret}`)).status).toBe(200);
      expect(await lastAudit('token.created')).toMatchObject({
        actor: expect.stringMatching(/^cli:/),
        detail: { name: 'cli-auditor' },
      });

      expect(await run('list')).toBe(0);
      expect(out.join('\n')).toContain('cli-auditor');
      expect(out.join('\n')).not.toContain(secret);

      expect(await run('revoke', id)).toBe(0);
      expect(out.join('\n')).toMatch(/revoked #\d+ {2}cli-auditor/);
      expect((await api('GET', '/api/holds', `Bearer ${secret}`)).status).toBe(401);
      expect(await run('revoke', id)).toBe(1);
      expect(err.join('\n')).toMatch(/was revoked/);
    });

    it('refuses a bad command line with exit code 2', async () => {
      expect(await run('create', '--name', 'x')).toBe(2);
      expect(await run('create', '--role', 'nobody', '--name', 'x')).toBe(2);
      expect(await run('revoke')).toBe(2);
      expect(await run('frobnicate')).toBe(2);
    });
  });

  // Last: it stores a study, which the pacs token's view above must not see.
  it('records the role of the token behind a hold and a tier move', async () => {
    const i = makeInstance({ sopClassUid: CT });
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const t = await create({ role: 'archivist', name: 'records-keeper' });
    const held = await api('POST', '/api/holds', bearer(t), {
      studyInstanceUid: i.studyInstanceUid,
      reason: 'litigation',
    });
    expect(held.status, held.text).toBe(201);
    expect(await lastAudit('hold.placed')).toMatchObject({
      actor: 'records-keeper',
      role: 'archivist',
    });
    const moved = await api('POST', `/api/studies/${i.studyInstanceUid}/move`, bearer(t), {
      tier: 'hot',
    });
    expect(moved.status, moved.text).toBe(202);
    await vi.waitFor(
      async () =>
        expect(await lastAudit('study.moved')).toMatchObject({
          actor: 'records-keeper',
          role: 'archivist',
        }),
      { timeout: 20_000, interval: 100 },
    );
  });
});
