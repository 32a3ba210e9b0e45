import { ForbiddenException, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { type Role, Roles } from '../access/index.js';
import { type AuditEvent, type AuditService } from '../audit/index.js';
import { type StrataConfig } from '../config/index.js';
import { type Database } from '../database/index.js';
import { type AuthenticatedRequest, AuthGuard } from './auth.guard.js';
import { Public } from './public.decorator.js';
import { type TokenLookup, type TokenRecord, type TokenRepository } from './token.repository.js';

const ADMIN_SECRET = 'configured-admin-token-0123456789';

class Routes {
  @Public()
  health(): void {}
  unannotated(): void {}
  @Roles('auditor')
  audit(): void {}
  @Roles('archivist', 'pacs')
  shared(): void {}
}

@Roles('pacs')
class PacsController {
  store(): void {}
  @Roles('auditor')
  metadata(): void {}
}

function token(role: Role, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: '7',
    name: `a-${role}`,
    role,
    source: role === 'pacs' ? 'SITE' : null,
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'admin',
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    revokedBy: null,
    ...extra,
  };
}

function setup(found: TokenLookup | null, newSession = true) {
  const audited: AuditEvent[] = [];
  const touched: string[] = [];
  const audit = {
    recordAlone: async (e: AuditEvent) => void audited.push(e),
    record: async (_tx: unknown, e: AuditEvent) => void audited.push(e),
  } as unknown as AuditService;
  const tokens = {
    lookup: async () => found,
    touch: async (_tx: unknown, id: string) => {
      touched.push(id);
      return { newSession };
    },
  } as unknown as TokenRepository;
  const db = { transaction: (work: (tx: unknown) => unknown) => work({}) } as unknown as Database;
  const config = { auth: { adminToken: ADMIN_SECRET } } as StrataConfig;
  const guard = new AuthGuard(new Reflector(), tokens, audit, db, config);
  const headers: Record<string, string> = {};
  const call = async (
    target: object,
    handler: string,
    authorization?: string,
  ): Promise<{ ok: boolean; req: AuthenticatedRequest }> => {
    const req = {
      headers: authorization ? { authorization } : {},
      method: 'GET',
      path: '/some/path',
      ip: '10.1.2.3',
    } as unknown as AuthenticatedRequest;
    const res = { setHeader: (k: string, v: string) => (headers[k] = v) };
    const cls = typeof target === 'function' ? target : target.constructor;
    const proto = (cls as { prototype: Record<string, unknown> }).prototype;
    const context = {
      getHandler: () => proto[handler],
      getClass: () => cls,
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
    } as unknown as ExecutionContext;
    return { ok: await guard.canActivate(context), req };
  };
  return { call, audited, touched, headers };
}

describe('AuthGuard', () => {
  it('lets anyone call a @Public route', async () => {
    const { call, audited } = setup(null);
    expect((await call(Routes, 'health')).ok).toBe(true);
    expect(audited).toEqual([]);
  });

  it.each([
    ['no Authorization header', undefined, null, 'no bearer token', 'anonymous'],
    ['another scheme', 'Basic abc', null, 'no bearer token', 'anonymous'],
    ['an unknown token', 'Bearer nope', null, 'unknown token', 'anonymous'],
    [
      'an expired token',
      'Bearer old',
      { state: 'expired', token: token('auditor') } as TokenLookup,
      'expired token',
      'a-auditor',
    ],
    [
      'a revoked token',
      'Bearer gone',
      { state: 'revoked', token: token('auditor') } as TokenLookup,
      'revoked token',
      'a-auditor',
    ],
  ])('answers 401 to %s and audits why', async (_what, header, found, reason, actor) => {
    const { call, audited, headers } = setup(found);
    await expect(call(Routes, 'audit', header)).rejects.toBeInstanceOf(UnauthorizedException);
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'auth.failed',
        outcome: 'failure',
        actor,
        actorHost: '10.1.2.3',
        detail: expect.objectContaining({ method: 'GET', path: '/some/path', reason }),
      }),
    ]);
    expect(headers['WWW-Authenticate']).toMatch(/^Bearer/);
  });

  it('lets a role its route names pass, and sets who asked on the request', async () => {
    const { call, audited, touched } = setup({ state: 'valid', token: token('pacs'), stale: true });
    const { ok, req } = await call(Routes, 'shared', 'Bearer t');
    expect(ok).toBe(true);
    expect(req.strataUser).toEqual({ name: 'a-pacs', role: 'pacs', tokenId: '7', source: 'SITE' });
    expect(touched).toEqual(['7']);
    expect(audited.map((e) => e.action)).toEqual(['auth.succeeded']);
  });

  it('audits a success only when the use begins a session, and touches only a stale token', async () => {
    let s = setup({ state: 'valid', token: token('auditor'), stale: true }, false);
    await s.call(Routes, 'audit', 'Bearer t');
    expect(s.touched).toEqual(['7']);
    expect(s.audited).toEqual([]);
    s = setup({ state: 'valid', token: token('auditor'), stale: false });
    await s.call(Routes, 'audit', 'Bearer t');
    expect(s.touched).toEqual([]);
    expect(s.audited).toEqual([]);
  });

  it('answers 403 to a role the route does not name, audited with the roles it needs', async () => {
    const { call, audited } = setup({ state: 'valid', token: token('auditor'), stale: false });
    await expect(call(Routes, 'shared', 'Bearer t')).rejects.toBeInstanceOf(ForbiddenException);
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'permission.denied',
        actor: 'a-auditor',
        role: 'auditor',
        detail: expect.objectContaining({
          method: 'GET',
          path: '/some/path',
          requiredRoles: ['admin', 'archivist', 'pacs'],
        }),
      }),
    ]);
  });

  it('makes a route without @Roles admin-only', async () => {
    for (const role of ['archivist', 'auditor', 'pacs'] as const) {
      const { call } = setup({ state: 'valid', token: token(role), stale: false });
      await expect(call(Routes, 'unannotated', 'Bearer t')).rejects.toBeInstanceOf(
        ForbiddenException,
      );
    }
    const { call } = setup({ state: 'valid', token: token('admin'), stale: false });
    expect((await call(Routes, 'unannotated', 'Bearer t')).ok).toBe(true);
  });

  it("takes a handler's @Roles over its controller's", async () => {
    const pacs = setup({ state: 'valid', token: token('pacs'), stale: false });
    expect((await pacs.call(PacsController, 'store', 'Bearer t')).ok).toBe(true);
    await expect(pacs.call(PacsController, 'metadata', 'Bearer t')).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    const auditor = setup({ state: 'valid', token: token('auditor'), stale: false });
    expect((await auditor.call(PacsController, 'metadata', 'Bearer t')).ok).toBe(true);
  });

  it('knows the configured admin token, and audits its first use once', async () => {
    const { call, audited } = setup(null);
    for (let n = 0; n < 3; n++) {
      const { ok, req } = await call(Routes, 'unannotated', `Bearer ${ADMIN_SECRET}`);
      expect(ok).toBe(true);
      expect(req.strataUser).toMatchObject({ name: 'admin', role: 'admin', tokenId: null });
    }
    expect(audited.map((e) => e.action)).toEqual(['auth.succeeded']);
  });
});
