import { Controller, Delete, Get, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { readJsonBody } from '../tiering/index.js';
import { type AuthenticatedRequest } from './auth.guard.js';
import { Roles } from './roles.decorator.js';
import { type TokenRecord } from './token.repository.js';
import { type TokenActor, TokenError, TokenService } from './token.service.js';

function actorOf(req: AuthenticatedRequest): TokenActor {
  return {
    actor: req.strataUser?.name ?? 'unknown',
    actorHost: req.ip ?? null,
    role: req.strataUser?.role ?? null,
  };
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TokenError)
      throw new HttpException({ message: error.message }, error.status);
    throw error;
  }
}

/** API tokens: created by an admin, shown once, stored hashed, expiring and revocable. */
@ApiTags('tokens')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/tokens')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  /**
   * A new token, body `{"role", "name", "expiresAt"?, "source"?}` (source: pacs tokens only).
   * The answer holds the secret (`token`): it is shown this once.
   */
  @Post()
  @HttpCode(201)
  @ApiBody({
    schema: { example: { role: 'auditor', name: 'compliance-2027', expiresAt: '2027-01-01' } },
  })
  async create(@Req() req: AuthenticatedRequest): Promise<TokenRecord & { token: string }> {
    const body = await readJsonBody(req);
    const { token, secret } = await mapped(() => this.tokens.create(body, actorOf(req)));
    return { ...token, token: secret };
  }

  /** Every token (revoked and expired ones too), without secrets. */
  @Get()
  async list(): Promise<{ tokens: TokenRecord[] }> {
    return { tokens: await this.tokens.list() };
  }

  /** Revokes a token: it stops working at once, on every node. */
  @Delete(':id')
  revoke(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<TokenRecord> {
    return mapped(() => this.tokens.revoke(id, actorOf(req)));
  }
}
