import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { ROLES } from '../access/index.js';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { TokenRepository, type TokenRecord } from './token.repository.js';

/** A refused token operation: status 400 (bad input), 404 (no such token) or 409 (conflict). */
export class TokenError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** Who asks for a token operation, for the audit trail. */
export interface TokenActor {
  actor: string;
  actorHost: string | null;
  role: string | null;
}

/** Token names end up as audit actors and in `stow:<name>` source names: no spaces or slashes. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** The configured admin token (STRATA_ADMIN_TOKEN) acts as 'admin': no token may look like it. */
const RESERVED_NAME = 'admin';

const createSchema = z
  .object({
    role: z.enum(ROLES),
    name: z
      .string()
      .regex(NAME, 'letters, digits and . _ : - (at most 64), first a letter or digit'),
    /** An ISO 8601 date-time, or a date (the token expires at its start, 00:00 UTC). */
    expiresAt: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).nullish(),
    source: z.string().regex(NAME, 'a source name: letters, digits and . _ : -').nullish(),
  })
  .strict();

/**
 * Creating, listing and revoking API tokens (POST/GET/DELETE /api/tokens and `strata token`).
 * Each change is audited in the transaction that makes it. The secret is returned by create()
 * once and never stored.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly db: Database,
    private readonly tokens: TokenRepository,
    private readonly audit: AuditService,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
  ) {}

  async create(input: unknown, by: TokenActor): Promise<{ token: TokenRecord; secret: string }> {
    const parsed = createSchema.safeParse(input ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TokenError(400, `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { role, name, expiresAt } = parsed.data;
    if (name === RESERVED_NAME && role !== 'admin') {
      throw new TokenError(400, `name: '${RESERVED_NAME}' is kept for admin tokens`);
    }
    const source = this.sourceOf(role, name, parsed.data.source ?? null);
    const expires = expiresAt ? new Date(expiresAt) : null;
    const secret = TokenRepository.generate();
    const token = await this.db.transaction(async (tx) => {
      if (expires && (await this.tokens.isPast(tx, expires))) {
        throw new TokenError(400, 'expiresAt: the token would be expired already');
      }
      const created = await this.tokens.create(
        tx,
        { name, role, source, expiresAt: expires, createdBy: by.actor },
        secret,
      );
      if (!created) throw new TokenError(409, `a live token is named '${name}' already`);
      await this.audit.record(tx, {
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role,
        action: 'token.created',
        outcome: 'success',
        detail: {
          tokenId: created.id,
          name: created.name,
          tokenRole: created.role,
          ...(created.source ? { source: created.source } : {}),
          ...(created.expiresAt ? { expiresAt: created.expiresAt } : {}),
        },
      });
      return created;
    });
    return { token, secret };
  }

  list(): Promise<TokenRecord[]> {
    return this.tokens.list();
  }

  async revoke(id: string, by: TokenActor): Promise<TokenRecord> {
    if (!/^[1-9][0-9]{0,17}$/.test(id)) throw new TokenError(404, `no token ${id}`);
    return this.db.transaction(async (tx) => {
      const revoked = await this.tokens.revoke(tx, id, by.actor);
      if (!revoked) {
        const existing = await this.tokens.get(tx, id);
        if (!existing) throw new TokenError(404, `no token ${id}`);
        throw new TokenError(409, `token ${id} was revoked at ${existing.revokedAt}`);
      }
      await this.audit.record(tx, {
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role,
        action: 'token.revoked',
        outcome: 'success',
        detail: { tokenId: revoked.id, name: revoked.name, tokenRole: revoked.role },
      });
      return revoked;
    });
  }

  /**
   * A pacs token is bound to a source: the one asked for, else the stow-push source that names the
   * token (config `token: NAME`), else `stow:<name>`, which is where its STOW-RS requests were
   * recorded before tokens had sources. One token, one source: a stow-push source naming the token
   * wins over a different one asked for. Other roles have none.
   */
  private sourceOf(role: string, name: string, asked: string | null): string | null {
    if (role !== 'pacs') {
      if (asked !== null)
        throw new TokenError(400, 'source: only pacs tokens are bound to a source');
      return null;
    }
    const configured = Object.values(this.config.sources).find(
      (s) => s.adapter === 'stow-push' && s.options.token === name,
    );
    if (configured && asked !== null && asked !== configured.name) {
      throw new TokenError(
        400,
        `source: the stow-push source '${configured.name}' names this token; its source is '${configured.name}'`,
      );
    }
    return asked ?? configured?.name ?? `stow:${name}`;
  }
}
