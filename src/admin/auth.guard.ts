import { timingSafeEqual } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { IS_PUBLIC } from './public.decorator.js';
import { type TokenOwner, TokenRepository } from './token.repository.js';

export interface AuthenticatedRequest extends Request {
  strataUser?: TokenOwner;
}

/** Every HTTP route needs `Authorization: Bearer <token>` unless marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly adminHash: Buffer | null;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenRepository,
    private readonly audit: AuditService,
    @Inject(STRATA_CONFIG) config: StrataConfig,
  ) {
    this.adminHash = config.auth.adminToken ? TokenRepository.hash(config.auth.adminToken) : null;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (
      this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
        context.getHandler(),
        context.getClass(),
      ])
    ) {
      return true;
    }
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const owner = match ? await this.owner(match[1]!) : null;
    if (!owner) {
      await this.audit
        .recordAlone({
          actor: 'anonymous',
          actorHost: req.ip ?? null,
          action: 'auth.failed',
          outcome: 'failure',
          detail: {
            path: req.path,
            method: req.method,
            reason: match ? 'unknown token' : 'no bearer token',
          },
        })
        .catch(() => undefined);
      throw new UnauthorizedException('a valid bearer token is required');
    }
    req.strataUser = owner;
    return true;
  }

  private async owner(token: string): Promise<TokenOwner | null> {
    if (this.adminHash) {
      const hash = TokenRepository.hash(token);
      if (timingSafeEqual(hash, this.adminHash)) return { name: 'admin', role: 'admin' };
    }
    return this.tokens.find(token);
  }
}
