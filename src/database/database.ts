import { type DataSource, type QueryRunner } from 'typeorm';

/** What a repository needs to run SQL, inside or outside a transaction. */
export interface Sql {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * The database handle repositories receive. Hot paths use SQL through it; the transaction helper
 * gives a single connection so that a catalog change and its audit row commit together.
 */
export class Database implements Sql {
  constructor(readonly dataSource: DataSource) {}

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.dataSource.query(sql, params) as Promise<T[]>;
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    const runner: QueryRunner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const tx: Sql = {
        query: <R>(sql: string, params?: unknown[]) => runner.query(sql, params) as Promise<R[]>,
      };
      const result = await work(tx);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
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
