import { createHash } from 'node:crypto';
import { type Pool, type PoolClient } from 'pg';
import { type DataSource, type QueryRunner } from 'typeorm';

/** What a repository needs to run SQL, inside or outside a transaction. */
export interface Sql {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * The database handle repositories receive. Queries and transactions go straight to the pg pool
 * TypeORM manages (TypeORM's query runner adds per-query bookkeeping, and on one DICOM association
 * every fraction of a millisecond before the response is throughput); the transaction helper gives
 * a single connection so that a catalog change and its audit row commit together.
 */
export class Database implements Sql {
  constructor(readonly dataSource: DataSource) {}

  private get pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  /** The pool's connections: open, idle, and requests waiting for one (for /metrics). */
  poolStats(): { total: number; idle: number; waiting: number; max: number } {
    const pool = this.pool;
    return {
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: pool.options.max ?? 10,
    };
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.run<T>(sql, params);
  }

  /**
   * A query whose plan each connection keeps (a named prepared statement): for the statements
   * run again and again with other values, C-FIND and QIDO-RS searches, where planning took
   * longer than executing. The name is the text's digest, so one text is prepared once.
   */
  async prepared<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    const name = `s_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    return this.run<T>(sql, params, name);
  }

  private async run<T>(sql: string, params: unknown[] | undefined, name?: string): Promise<T[]> {
    // Not pool.query(): it closes the connection on any error, so an expected SQL error (a
    // constraint, ST001) would cost a new connection, tens of milliseconds, on the next query.
    const client = await this.checkOut();
    let broken: Error | undefined;
    try {
      const result = await client.query(
        name === undefined ? { text: sql, values: params } : { name, text: sql, values: params },
      );
      return result.rows as T[];
    } catch (error) {
      if (!isServerError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.checkOut();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const tx: Sql = {
        query: async <R>(sql: string, params?: unknown[]) =>
          (await client.query(sql, params)).rows as R[],
      };
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        // The connection itself failed: it must not go back to the pool.
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * A pooled client for one query or transaction. While checked out a client has no 'error'
   * listener of the pool's, and pg emits 'error' when the server goes away (a restart, a failover,
   * a cut network) even though the query in flight is also rejected: unheard, that event would
   * crash the process. The query's own rejection reports the failure; the client is then released
   * as broken, so the pool never hands it out again.
   */
  private async checkOut(): Promise<PoolClient> {
    const client = await this.pool.connect();
    const onError = (): void => undefined;
    client.on('error', onError);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.off('error', onError);
      release(err);
    };
    return client;
  }

  /** A dedicated connection for streaming reads (cursors) or session-level locks. */
  async withConnection<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      return await work(runner);
    } finally {
      await runner.release();
    }
  }
}

/** An error the server reported (it has a SQLSTATE): the connection itself is still good. */
function isServerError(error: unknown): boolean {
  return typeof (error as { code?: unknown })?.code === 'string' && 'severity' in (error as object);
}
