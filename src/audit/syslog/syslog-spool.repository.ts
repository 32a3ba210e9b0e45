import { Injectable } from '@nestjs/common';
import { Database } from '../../database/index.js';
import { type AuditRow } from '../audit-event.js';
import { AUDIT_ROW_COLUMNS, auditRowFrom } from '../audit-row.js';

/** The spool of one destination, as its sender sees it while it holds the destination's lock. */
export interface SyslogSpool {
  /** The last seq the collector confirmed (0: nothing yet). */
  delivered(): Promise<number>;
  /** The rows after `seq`, in chain order. */
  rowsAfter(seq: number, limit: number): Promise<AuditRow[]>;
  /**
   * Moves the cursor from `from` to `to`; false when it was not at `from` any more (another sender
   * moved it: this one has lost its lock and must stop).
   */
  advance(from: number, to: number): Promise<boolean>;
}

interface Runner {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * The durable syslog spool: a delivery cursor per destination (audit_syslog_cursors) over the
 * append-only audit_events, and the PostgreSQL advisory lock that makes one sender per destination
 * in the whole cluster. Everything a sender does goes through the connection that holds the lock,
 * so a sender whose connection (and so whose lock) was lost fails at its next step instead of
 * racing the node that took over.
 */
@Injectable()
export class SyslogSpoolRepository {
  constructor(private readonly db: Database) {}

  /**
   * Runs `work` holding the destination's lock (a session-level advisory lock on a connection of
   * its own, released when `work` ends or the connection drops); null without running it when
   * another sender holds the lock.
   */
  async whileHolding<T>(
    destination: string,
    work: (spool: SyslogSpool) => Promise<T>,
  ): Promise<T | null> {
    return this.db.withConnection(async (conn) => {
      const key = `audit-syslog:${destination}`;
      const [lock] = (await conn.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
        key,
      ])) as {
        ok: boolean;
      }[];
      if (!lock?.ok) return null;
      try {
        await conn.query(
          'INSERT INTO audit_syslog_cursors (destination) VALUES ($1) ON CONFLICT DO NOTHING',
          [destination],
        );
        return await work(spoolOn(conn, destination));
      } finally {
        await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => undefined);
      }
    });
  }
}

function spoolOn(conn: Runner, destination: string): SyslogSpool {
  return {
    async delivered() {
      const rows = (await conn.query(
        'SELECT delivered_seq FROM audit_syslog_cursors WHERE destination = $1',
        [destination],
      )) as { delivered_seq: string }[];
      return Number(rows[0]?.delivered_seq ?? 0);
    },
    async rowsAfter(seq, limit) {
      const rows = (await conn.query(
        `SELECT ${AUDIT_ROW_COLUMNS}
           FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [seq, limit],
      )) as Record<string, unknown>[];
      return rows.map(auditRowFrom);
    },
    async advance(from, to) {
      // A SELECT around the UPDATE: the query runner answers an UPDATE with [rows, count].
      const [row] = (await conn.query(
        `WITH moved AS (
           UPDATE audit_syslog_cursors SET delivered_seq = $3, delivered_at = now()
            WHERE destination = $1 AND delivered_seq = $2 RETURNING 1)
         SELECT count(*)::int AS n FROM moved`,
        [destination, from, to],
      )) as { n: number }[];
      return row?.n === 1;
    },
  };
}
