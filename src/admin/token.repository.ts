import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Database } from '../database/index.js';

export interface TokenOwner {
  name: string;
  role: string;
}

/** API tokens, stored only as SHA-256 hashes: a database dump does not leak a usable token. */
@Injectable()
export class TokenRepository {
  constructor(private readonly db: Database) {}

  static hash(token: string): Buffer {
    return createHash('sha256').update(token, 'utf8').digest();
  }

  static generate(): string {
    return `strata_${randomBytes(24).toString('base64url')}`;
  }

  async find(token: string): Promise<TokenOwner | null> {
    const rows = await this.db.query<TokenOwner>(
      `UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 RETURNING name, role`,
      [TokenRepository.hash(token)],
    );
    return rows[0] ?? null;
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens');
    return rows[0]!.n;
  }

  async insert(name: string, role: string, token: string): Promise<void> {
    await this.db.query(
      `INSERT INTO api_tokens (name, role, token_hash) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash, role = EXCLUDED.role`,
      [name, role, TokenRepository.hash(token)],
    );
  }
}
