import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { TokenError, type TokenRecord, TokensModule, TokenService } from '../admin/index.js';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { actor } from './policy.command.js';

export const TOKEN_USAGE = `usage: strata token <create | list | revoke ID>

  create --role admin|archivist|auditor|pacs --name NAME [--expires DATE] [--source SOURCE]
                      a new API token; its secret is printed this once (stored only as a hash).
                      --expires: YYYY-MM-DD (expires at 00:00 UTC that day) or an ISO 8601 time.
                      --source: pacs tokens only, the source whose instances it stores and sees
                      (default: the stow-push source naming the token, else stow:NAME)
  list                every token (no secrets): role, source, created, expires, last used, revoked
  revoke ID           the token stops working at once

Every change is audited. Exits 0 on success, 1 when refused, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

/** The app context of a token command: configuration, database, audit and the token service. */
@Module({})
class TokenCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: TokenCliModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(database), TokensModule],
    };
  }
}

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${TOKEN_USAGE}`);
  return 2;
}

function show(t: TokenRecord): string {
  const state = t.revokedAt
    ? `revoked ${t.revokedAt} by ${t.revokedBy ?? '?'}`
    : t.expiresAt
      ? `expires ${t.expiresAt}`
      : 'no expiry';
  return [
    `#${t.id}`,
    t.name,
    t.role,
    ...(t.source ? [`source ${t.source}`] : []),
    state,
    `created ${t.createdAt}${t.createdBy ? ` by ${t.createdBy}` : ''}`,
    `last used ${t.lastUsedAt ?? 'never'}`,
  ].join('  ');
}

export async function tokenCommand(argv: string[], log: Log): Promise<number> {
  let parsed: { values: Record<string, string | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        role: { type: 'string' },
        name: { type: 'string' },
        expires: { type: 'string' },
        source: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [sub, arg, ...extra] = parsed.positionals;
  const v = parsed.values;
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  if (!['create', 'list', 'revoke'].includes(sub ?? '')) {
    return usageError(sub ? `unknown token command '${sub}'` : 'which token command?');
  }
  if (sub === 'revoke' && !arg) return usageError("'token revoke' needs the token's ID");
  if (sub !== 'revoke' && arg) return usageError(`unexpected argument '${arg}'`);
  if (sub === 'create' && (!v.role || !v.name)) {
    return usageError("'token create' needs --role and --name");
  }
  if (sub !== 'create' && (v.role || v.name || v.expires || v.source)) {
    return usageError('--role, --name, --expires and --source go with create');
  }

  const config = loadConfig();
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    TokenCliModule.forRoot(config, db.database),
    { logger: ['error', 'warn'] },
  );
  try {
    const tokens = app.get(TokenService);
    const by = { ...actor(), role: null };
    if (sub === 'create') {
      const { token, secret } = await tokens.create(
        { role: v.role, name: v.name, expiresAt: v.expires, source: v.source },
        by,
      );
      console.log(`created ${show(token)}`);
      console.log(`\n    ${secret}\n`);
      console.log('The token is shown this once: it is stored only as a hash.');
    } else if (sub === 'revoke') {
      console.log(`revoked ${show(await tokens.revoke(arg!, by))}`);
    } else {
      const list = await tokens.list();
      if (list.length === 0) console.log('no tokens');
      for (const t of list) console.log(show(t));
    }
    return 0;
  } catch (error) {
    if (error instanceof TokenError) {
      console.error(`strata: ${error.message}`);
      return error.status === 400 ? 2 : 1;
    }
    throw error;
  } finally {
    await app.close();
    await db.close();
  }
}
