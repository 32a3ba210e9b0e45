import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { type Role } from '../access/index.js';
import { Database, type Sql } from '../database/index.js';

/** A token as the API shows it: never its secret, which is stored only as a hash. */
export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  source: string | null;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** What a presented secret turned out to be. */
export type TokenLookup =
  | {
      state: 'valid';
      token: TokenRecord;
      /** Whether touch() has something to do: last_used_at is stale, or a session may begin. */
      stale: boolean;
    }
  | { state: 'expired' | 'revoked'; token: TokenRecord };

/** When a use of a token begins a new session (whose authentication is audited). */
export interface SessionRule {
  /** A use after this long without one. */
  idleSeconds: number;
  /** A use this long after the session began, however busy the token. */
  maxSeconds: number;
}

export interface NewToken {
  name: string;
  role: Role;
  source: string | null;
  expiresAt: Date | null;
  createdBy: string;
}

/**
 * last_used_at is written at most once a minute per token (a busy PACS would otherwise write it
 * on every request), so it is exact to the minute.
 */
const TOUCH_EVERY_SECONDS = 60;

/** Whether a use now begins a session ($2: idle seconds, $3: longest session in seconds). */
const NEW_SESSION = `(last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)
   OR session_started_at IS NULL OR session_started_at < now() - make_interval(secs => $3))`;

const COLUMNS = `id::text, name, role, source,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at, created_by,
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expires_at,
  to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_used_at,
  to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS revoked_at, revoked_by`;

interface Row {
  id: string;
  name: string;
  role: Role;
  source: string | null;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

function record(r: Row): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    source: r.source,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

/**
 * API tokens, stored only as SHA-256 hashes: a database dump does not leak a usable token. (The
 * secrets are 192 random bits, so an unsalted fast hash is enough: there is nothing to guess.)
 */
@Injectable()
export class TokenRepository {
  constructor(private readonly db: Database) {}

  static hash(token: string): Buffer {
    return createHash('sha256').update(token, 'utf8').digest();
  }

  static generate(): string {
    return `strata_${randomBytes(24).toString('base64url')}`;
  }

  /** The token a secret belongs to, and whether it may still be used (the database's clock). */
  async lookup(secret: string, rule: SessionRule): Promise<TokenLookup | null> {
    // Every request runs it: prepared once per connection (planning cost more than running it).
    const rows = await this.db.prepared<Row & { expired: boolean; stale: boolean }>(
      `SELECT ${COLUMNS}, expires_at IS NOT NULL AND expires_at <= now() AS expired,
              ${NEW_SESSION} OR last_used_at < now() - make_interval(secs => $4) AS stale
         FROM api_tokens WHERE token_hash = $1`,
      [TokenRepository.hash(secret), rule.idleSeconds, rule.maxSeconds, TOUCH_EVERY_SECONDS],
    );
    const row = rows[0];
    if (!row) return null;
    const token = record(row);
    if (row.revoked_at !== null) return { state: 'revoked', token };
    if (row.expired) return { state: 'expired', token };
    return { state: 'valid', token, stale: row.stale };
  }

  /**
   * Records a use within `tx` (lookup() said it is stale), and tells whether it begins a session.
   * Concurrent requests serialise on the row lock: the second sees the first's times, so one
   * session is reported once, however many requests start it.
   */
  async touch(tx: Sql, id: string, rule: SessionRule): Promise<{ newSession: boolean }> {
    const rows = await tx.query<{ new_session: boolean }>(
      `WITH prev AS (
         SELECT ${NEW_SESSION} AS new_session, last_used_at
           FROM api_tokens WHERE id = $1 FOR UPDATE
       )
       UPDATE api_tokens t
          SET last_used_at = now(),
              session_started_at = CASE WHEN prev.new_session THEN now() ELSE t.session_started_at END
         FROM prev
        WHERE t.id = $1
          AND (prev.new_session OR prev.last_used_at < now() - make_interval(secs => $4))
       RETURNING prev.new_session`,
      [id, rule.idleSeconds, rule.maxSeconds, TOUCH_EVERY_SECONDS],
    );
    return { newSession: rows[0]?.new_session ?? false };
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens');
    return rows[0]!.n;
  }

  /** Whether a moment has passed, by the database's clock (the one expiry is checked against). */
  async isPast(tx: Sql, at: Date): Promise<boolean> {
    const rows = await tx.query<{ past: boolean }>('SELECT $1::timestamptz <= now() AS past', [at]);
    return rows[0]!.past;
  }

  /** Inserts within `tx` (with its audit row); null when a live token already has the name. */
  async create(tx: Sql, t: NewToken, secret: string): Promise<TokenRecord | null> {
    const rows = await tx.query<Row>(
      `INSERT INTO api_tokens (name, role, source, expires_at, created_by, token_hash)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
       RETURNING ${COLUMNS}`,
      [t.name, t.role, t.source, t.expiresAt, t.createdBy, TokenRepository.hash(secret)],
    );
    return rows[0] ? record(rows[0]) : null;
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await this.db.query<Row>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY id`);
    return rows.map(record);
  }

  async get(tx: Sql, id: string): Promise<TokenRecord | null> {
    const rows = await tx.query<Row>(`SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
    return rows[0] ? record(rows[0]) : null;
  }

  /** Revokes within `tx`; null when there is no such live token. */
  async revoke(tx: Sql, id: string, by: string): Promise<TokenRecord | null> {
    const rows = await tx.query<Row>(
      `UPDATE api_tokens SET revoked_at = now(), revoked_by = $2
        WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
      [id, by],
    );
    return rows[0] ? record(rows[0]) : null;
  }
}
