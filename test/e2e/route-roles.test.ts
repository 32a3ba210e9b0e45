import { RequestMethod } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, ROLES_KEY, type Role } from '../../src/access/index.js';
import { IS_PUBLIC } from '../../src/admin/public.decorator.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

/**
 * The role matrix (issue 6): every route the running app serves, found in Express's router (so a
 * route added anywhere is found), must have a decision here, and the guard must enforce it: 401
 * without a token and with an unknown one, 403 for every role not allowed, and neither for the
 * roles allowed (admin always is). A route without a decision fails the test, and so does a
 * decision for a route that no longer exists: the table cannot rot.
 *
 * 'public': no token needed. A list: the roles besides admin that may call the route.
 */
const DECISIONS: Record<string, 'public' | readonly Role[]> = {
  'GET /health': 'public',
  'GET /ready': 'public',
  // The OpenAPI description and its UI (no data): Swagger's own routes, outside Nest's guard.
  'GET /api/docs': 'public',
  'GET /api/docs/': 'public',
  'GET /api/docs/index.html': 'public',
  'GET /api/docs/LICENSE': 'public',
  'GET /api/docs/openapi.json': 'public',
  'GET /api/docs-yaml': 'public',
  'GET /api/docs/swagger-ui-init.js': 'public',
  'GET /api/docs/docs/swagger-ui-init.js': 'public',
  'GET /metrics': [],

  'GET /api/tokens': [],
  'POST /api/tokens': [],
  'DELETE /api/tokens/:id': [],
  'GET /api/keys': [],
  'POST /api/keys/rotate': [],
  'POST /api/keys/recipients': [],
  'DELETE /api/keys/:keyId': [],

  'GET /api/audit': ['auditor'],
  'GET /api/audit/verify': ['auditor'],
  'GET /api/audit/export': ['auditor'],

  'GET /api/sources': ['archivist'],
  'POST /api/sources/:id/pull': ['archivist'],
  'GET /api/sources/:id/ledger': ['archivist', 'auditor'],

  'POST /api/studies/:study/move': ['archivist'],
  'POST /api/studies/:study/series/:series/move': ['archivist'],
  'POST /api/fixity': ['archivist'],
  'GET /api/jobs/:id': ['archivist'],
  'GET /api/jobs': ['archivist'],
  'GET /api/studies/:study': ['archivist', 'auditor'],
  'GET /api/studies/:study/lifecycle': ['archivist', 'auditor'],
  'DELETE /api/studies/:study': ['archivist'],
  'POST /api/studies/:study/recall': ['archivist'],
  'POST /api/prefetch': ['archivist'],
  'POST /api/holds': ['archivist'],
  'GET /api/holds': ['archivist', 'auditor'],
  'GET /api/holds/:id': ['archivist', 'auditor'],
  'POST /api/holds/:id/release': ['archivist'],
  'GET /api/deletions/:id': ['archivist', 'auditor'],
  'POST /api/policies/simulate': ['archivist'],
  'POST /api/policies/reload': ['archivist'],
  'GET /api/schedules': ['archivist'],
  'POST /api/sweeps/:name/run': ['archivist'],
  'POST /api/schedules/:name/pause': ['archivist'],
  'POST /api/schedules/:name/resume': ['archivist'],

  'POST /dicomweb/studies': ['pacs'],
  'POST /dicomweb/studies/:study': ['pacs'],
  'GET /dicomweb/studies': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/series': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/instances': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/series': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/instances': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/series/:series/instances': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/metadata': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/series/:series/metadata': ['archivist', 'auditor', 'pacs'],
  'GET /dicomweb/studies/:study/series/:series/instances/:instance/metadata': [
    'archivist',
    'auditor',
    'pacs',
  ],
  // Pixel data: never the auditor's.
  'GET /dicomweb/studies/:study': ['pacs'],
  'GET /dicomweb/studies/:study/series/:series': ['pacs'],
  'GET /dicomweb/studies/:study/series/:series/instances/:instance': ['pacs'],
  'GET /dicomweb/studies/:study/series/:series/instances/:instance/bulkdata/*path': ['pacs'],
};

interface Route {
  method: string;
  path: string;
  /** The handler's own @Roles, or its controller's; undefined: none (a Swagger route). */
  declared: readonly Role[] | undefined;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: unknown }[] };
}

/** Every route of the Express app, with the @Roles metadata Nest keeps on its handlers. */
function routesOf(s: TestStrata): Route[] {
  const app = s.running.app.getHttpAdapter().getInstance() as { router: { stack: Layer[] } };
  const routes: Route[] = [];
  for (const layer of app.router.stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (!on || method === '_all') continue;
      routes.push({ method: method.toUpperCase(), path: layer.route.path, declared: undefined });
    }
  }
  return routes;
}

/**
 * The routes Nest registered from controllers, with the decision their metadata states: 'public',
 * the roles of @Roles on the handler or else its controller (admin left out: it may always), or
 * undefined when there is none. ('path' and 'method' are Nest's route metadata keys.)
 */
function nestRoutes(s: TestStrata): { key: string; decision: 'public' | Role[] | undefined }[] {
  const out: { key: string; decision: 'public' | Role[] | undefined }[] = [];
  for (const module of s.running.app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      const base = String(Reflect.getMetadata('path', controller) ?? '');
      const proto = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const method = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const sub = String(Reflect.getMetadata('path', handler) ?? '');
        const path = `/${[base, sub].filter((p) => p && p !== '/').join('/')}`.replace(/\/+/g, '/');
        const isPublic =
          Reflect.getMetadata(IS_PUBLIC, handler) ?? Reflect.getMetadata(IS_PUBLIC, controller);
        const roles = (Reflect.getMetadata(ROLES_KEY, handler) ??
          Reflect.getMetadata(ROLES_KEY, controller)) as Role[] | undefined;
        out.push({
          key: `${RequestMethod[method]} ${path}`,
          decision: isPublic ? 'public' : roles?.filter((r) => r !== 'admin'),
        });
      }
    }
  }
  return out;
}

/** A path to call: each parameter replaced by something valid-looking that matches nothing. */
function concrete(path: string): string {
  return path
    .replace(/:study|:series|:instance/g, '1.2.826.0.1.3680043.10.999.1')
    .replace(/:keyId/g, '0123456789ABCDEF')
    .replace(/:name/g, 'nonesuch')
    .replace(/:id/g, '999999')
    .replace(/\*path/g, '7FE00010');
}

describe('every route refuses the roles it does not name', () => {
  let s: TestStrata;
  const tokens: Partial<Record<Role, string>> = {};

  beforeAll(async () => {
    s = await startTestStrata({ configYaml: "fixity:\n  schedule: 'off'\n" });
    for (const role of ROLES) {
      if (role === 'admin') {
        tokens.admin = s.auth;
        continue;
      }
      const res = await fetch(`${s.httpUrl}/api/tokens`, {
        method: 'POST',
        headers: { authorization: s.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ role, name: `matrix-${role}` }),
      });
      expect(res.status).toBe(201);
      tokens[role] = `Bearer ${((await res.json()) as { token: string }).token}`;
    }
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('has a decision for every route the app serves, and no decision for a route it does not', () => {
    const served = routesOf(s).map((r) => `${r.method} ${r.path}`);
    const undecided = served.filter((r) => !(r in DECISIONS));
    const stale = Object.keys(DECISIONS).filter((r) => !served.includes(r));
    expect(undecided, 'routes without a decision: add them to DECISIONS and @Roles').toEqual([]);
    expect(stale, 'decisions for routes the app no longer serves').toEqual([]);
  });

  it('every Nest route declares its roles (@Roles) or @Public beside its code, as the table says', () => {
    const declared = nestRoutes(s);
    expect(declared.length).toBeGreaterThan(30);
    for (const r of declared) {
      expect(r.decision, `${r.key} has neither @Roles nor @Public`).not.toBeUndefined();
      expect(r.decision, r.key).toEqual(DECISIONS[r.key]);
    }
  });

  const requests = (): { key: string; method: string; path: string }[] =>
    Object.keys(DECISIONS).map((key) => {
      const [method, path] = key.split(' ') as [string, string];
      return { key, method, path: concrete(path) };
    });

  const call = async (method: string, path: string, auth?: string): Promise<number> => {
    const res = await fetch(`${s.httpUrl}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: auth } : {}),
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      // An invalid body: an allowed call stops at validation (400) rather than doing something.
      ...(method === 'POST' ? { body: '{"not": "valid"' } : {}),
    });
    await res.arrayBuffer();
    return res.status;
  };

  it('answers 401 without a token and with an unknown one', async () => {
    for (const { key, method, path } of requests()) {
      const none = await call(method, path);
      const unknown = await call(method, path, 'Bearer strata_not-a-token-of-this-archive');
      if (DECISIONS[key] === 'public') {
        expect(none, key).not.toBe(401);
        expect(unknown, key).not.toBe(401);
      } else {
        expect(none, key).toBe(401);
        expect(unknown, key).toBe(401);
      }
    }
  });

  it('answers 403 to every role not allowed and lets every allowed role past the guard', async () => {
    for (const { key, method, path } of requests()) {
      const decision = DECISIONS[key]!;
      if (decision === 'public') continue;
      for (const role of ROLES) {
        const status = await call(method, path, tokens[role]);
        const allowed = role === 'admin' || decision.includes(role);
        if (allowed) expect([401, 403], `${key} as ${role}: ${status}`).not.toContain(status);
        else expect(status, `${key} as ${role}`).toBe(403);
      }
    }
  });

  it('audits each refusal with the path, method and roles, and nothing of the query', async () => {
    const db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
    try {
      await call('GET', '/dicomweb/studies?PatientName=SECRET%5EPATIENT', tokens.auditor);
      await call('GET', '/api/keys?PatientID=SECRET-ID', tokens.auditor);
      await call('GET', '/dicomweb/studies?PatientName=SECRET%5EPATIENT');
      const denied = await db.query(
        `SELECT actor, role, outcome, detail FROM audit_events
          WHERE action = 'permission.denied' ORDER BY seq DESC LIMIT 1`,
      );
      expect(denied.rows[0]).toMatchObject({
        actor: 'matrix-auditor',
        role: 'auditor',
        outcome: 'failure',
        detail: { protocol: 'HTTP', method: 'GET', path: '/api/keys', requiredRoles: ['admin'] },
      });
      const failed = await db.query(
        `SELECT actor, detail FROM audit_events WHERE action = 'auth.failed' ORDER BY seq DESC LIMIT 1`,
      );
      expect(failed.rows[0]).toMatchObject({
        actor: 'anonymous',
        detail: { method: 'GET', path: '/dicomweb/studies', reason: 'no bearer token' },
      });
      const all = await db.query(`SELECT detail::text AS d FROM audit_events`);
      for (const row of all.rows as { d: string | null }[]) {
        expect(row.d ?? '').not.toContain('SECRET');
      }
      // Successes: one per token and session, however many requests the matrix made.
      const succeeded = await db.query(
        `SELECT actor, count(*)::int AS n FROM audit_events WHERE action = 'auth.succeeded'
          GROUP BY actor ORDER BY actor`,
      );
      expect(succeeded.rows).toEqual([
        { actor: 'admin', n: 1 },
        { actor: 'matrix-archivist', n: 1 },
        { actor: 'matrix-auditor', n: 1 },
        { actor: 'matrix-pacs', n: 1 },
      ]);
    } finally {
      await db.end();
    }
  });
});
