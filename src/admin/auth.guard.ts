import { timingSafeEqual } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request, type Response } from 'express';
import { type AuthenticatedUser, type Role, ROLES_KEY } from '../access/index.js';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { ConfigTokenSession, SESSION_RULE } from './auth-session.js';
import { IS_PUBLIC } from './public.decorator.js';
import { TokenRepository } from './token.repository.js';

export interface AuthenticatedRequest extends Request {
  strataUser?: AuthenticatedUser;
}

/**
 * Every HTTP route needs `Authorization: Bearer <token>` unless marked @Public(), and a token whose
 * role the route's @Roles names (admin may do everything; a route without @Roles is admin-only).
 * 401 for a missing, unknown, expired or revoked token ('auth.failed'), 403 for the wrong role
 * ('permission.denied'), both audited with the path and method only: a query string can hold a
 * patient's name. A successful authentication is audited once per session ('auth.succeeded',
 * see auth-session.ts), not per request.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger('Auth');
  private readonly adminHash: Buffer | null;
  private readonly adminSession = new ConfigTokenSession();

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenRepository,
    private readonly audit: AuditService,
    private readonly db: Database,
    @Inject(STRATA_CONFIG) config: StrataConfig,
  ) {
    this.adminHash = config.auth.adminToken ? TokenRepository.hash(config.auth.adminToken) : null;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<AuthenticatedRequest>();
    const user = await this.authenticate(req, http.getResponse<Response>());
    req.strataUser = user;
    const allowed = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets) ?? [];
    if (user.role === 'admin' || allowed.includes(user.role)) return true;
    const needed = ['admin', ...allowed.filter((r) => r !== 'admin')];
    await this.audit
      .recordAlone({
        actor: user.name,
        actorHost: req.ip ?? null,
        role: user.role,
        action: 'permission.denied',
        outcome: 'failure',
        detail: {
          protocol: 'HTTP',
          method: req.method,
          path: req.path,
          requiredRoles: needed,
          ...(user.tokenId ? { tokenId: user.tokenId } : {}),
        },
      })
      .catch((e: unknown) =>
        this.logger.error(`could not audit a permission denial: ${String(e)}`),
      );
    throw new ForbiddenException(
      `this request needs the ${needed.join(' or ')} role; the token's role is ${user.role}`,
    );
  }

  private async authenticate(req: Request, res: Response): Promise<AuthenticatedUser> {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return this.refuse(req, res, 'anonymous', 'no bearer token');
    const secret = match[1]!;
    if (this.adminHash && timingSafeEqual(TokenRepository.hash(secret), this.adminHash)) {
      const user: AuthenticatedUser = { name: 'admin', role: 'admin', tokenId: null, source: null };
      if (this.adminSession.use()) await this.succeeded(req, user);
      return user;
    }
    const found = await this.tokens.lookup(secret, SESSION_RULE);
    if (!found) return this.refuse(req, res, 'anonymous', 'unknown token');
    const { token } = found;
    if (found.state !== 'valid') {
      return this.refuse(req, res, token.name, `${found.state} token`, token.id);
    }
    const user: AuthenticatedUser = {
      name: token.name,
      role: token.role,
      tokenId: token.id,
      source: token.source,
    };
    if (found.stale) {
      // The use and, when it begins a session, its audit row commit together.
      await this.db.transaction(async (tx) => {
        const { newSession } = await this.tokens.touch(tx, token.id, SESSION_RULE);
        if (newSession) await this.audit.record(tx, this.successEvent(req, user));
      });
    }
    return user;
  }

  private async succeeded(req: Request, user: AuthenticatedUser): Promise<void> {
    await this.audit.recordAlone(this.successEvent(req, user));
  }

  private successEvent(req: Request, user: AuthenticatedUser) {
    return {
      actor: user.name,
      actorHost: req.ip ?? null,
      role: user.role,
      action: 'auth.succeeded',
      outcome: 'success' as const,
      detail: { method: 'bearer', ...(user.tokenId ? { tokenId: user.tokenId } : {}) },
    };
  }

  private async refuse(
    req: Request,
    res: Response,
    actor: string,
    reason: string,
    tokenId?: string,
  ): Promise<never> {
    await this.audit
      .recordAlone({
        actor,
        actorHost: req.ip ?? null,
        action: 'auth.failed',
        outcome: 'failure',
        detail: {
          protocol: 'HTTP',
          method: req.method,
          path: req.path,
          reason,
          ...(tokenId ? { tokenId } : {}),
        },
      })
      .catch((e: unknown) =>
        this.logger.error(`could not audit a failed authentication: ${String(e)}`),
      );
    // RFC 6750 3: a 401 names the scheme the client should use.
    res.setHeader('WWW-Authenticate', 'Bearer realm="strata"');
    throw new UnauthorizedException('a valid bearer token is required');
  }
}
