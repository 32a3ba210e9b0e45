import { type Sql } from '../database/index.js';

/** 'paused': stopped on request (a paused schedule); it goes on when resumed. */
export type JobStatus = 'queued' | 'running' | 'paused' | 'done' | 'failed';

export interface Job {
  id: string;
  kind: string;
  status: JobStatus;
  params: Record<string, unknown>;
  actor: string;
  total: number;
  done: number;
  bytesDone: number;
  error: string | null;
  /** What the job found or did, in figures (fixity: checked, missing, corrupt, repaired...). */
  result: Record<string, unknown> | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface Row {
  id: string;
  kind: string;
  status: JobStatus;
  params: Record<string, unknown>;
  actor: string;
  total: number;
  done: number;
  bytes_done: string;
  error: string | null;
  result: Record<string, unknown> | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

function toJob(r: Row): Job {
  return {
    id: String(r.id),
    kind: r.kind,
    status: r.status,
    params: r.params,
    actor: r.actor,
    total: r.total,
    done: r.done,
    bytesDone: Number(r.bytes_done),
    error: r.error,
    result: r.result,
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

/** Background jobs as the API shows them: what, how far, how it ended. */
export class JobRepository {
  constructor(private readonly db: Sql) {}

  /**
   * Records a queued job; with `claimant`, already claimed by that node for `leaseMs` (so that no
   * other node's poll takes it between its creation and its start).
   */
  async create(
    kind: string,
    params: Record<string, unknown>,
    actor: string,
    claimant: { node: string; leaseMs: number } | null = null,
  ): Promise<Job> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO jobs (kind, status, params, actor, claimed_by, lease_until)
       VALUES ($1, 'queued', $2, $3, $4,
               CASE WHEN $4::text IS NULL THEN NULL
                    ELSE now() + make_interval(secs => $5::float8 / 1000) END)
       RETURNING *`,
      [kind, JSON.stringify(params), actor, claimant?.node ?? null, claimant?.leaseMs ?? 0],
    );
    return toJob(row!);
  }

  async get(id: string): Promise<Job | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const [row] = await this.db.query<Row>('SELECT * FROM jobs WHERE id = $1', [id]);
    return row ? toJob(row) : null;
  }

  async unfinished(kind: string, withPaused = false): Promise<Job[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM jobs WHERE kind = $1
          AND status IN ('queued', 'running'${withPaused ? ", 'paused'" : ''}) ORDER BY id`,
      [kind],
    );
    return rows.map(toJob);
  }

  /** The most recent jobs, newest first, optionally of one kind or status. */
  async list(filter: { kind?: string; status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM jobs WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY id DESC LIMIT $3`,
      [filter.kind ?? null, filter.status ?? null, filter.limit ?? 100],
    );
    return rows.map(toJob);
  }

  /** Pauses a running or queued job, or sets a paused one going again ('queued'). */
  async setPaused(id: string, paused: boolean): Promise<void> {
    await this.db.query(
      paused
        ? `UPDATE jobs SET status = 'paused' WHERE id = $1 AND status IN ('queued', 'running')`
        : `UPDATE jobs SET status = 'queued' WHERE id = $1 AND status = 'paused'`,
      [id],
    );
  }

  /** The most recent job of a kind. */
  async latest(kind: string): Promise<Job | null> {
    const [row] = await this.db.query<Row>(
      'SELECT * FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT 1',
      [kind],
    );
    return row ? toJob(row) : null;
  }

  async start(id: string, total: number): Promise<void> {
    await this.db.query(
      `UPDATE jobs SET status = 'running', total = $2, started_at = coalesce(started_at, now()) WHERE id = $1`,
      [id, total],
    );
  }

  /** Never goes back: updates from objects moved in parallel may arrive out of order. */
  async progress(id: string, done: number, bytesDone: number): Promise<void> {
    await this.db.query(
      'UPDATE jobs SET done = GREATEST(done, $2), bytes_done = GREATEST(bytes_done, $3) WHERE id = $1',
      [id, done, bytesDone],
    );
  }

  /** Progress and the figures so far (e.g. a scan's cursor), so that a resumed job goes on. */
  async checkpoint(id: string, done: number, result: Record<string, unknown>): Promise<void> {
    await this.db.query('UPDATE jobs SET done = GREATEST(done, $2), result = $3 WHERE id = $1', [
      id,
      done,
      JSON.stringify(result),
    ]);
  }

  async finish(
    id: string,
    error: string | null,
    result: Record<string, unknown> | null = null,
  ): Promise<void> {
    await this.db.query(
      `UPDATE jobs SET status = $2, error = $3, result = coalesce($4, result), finished_at = now()
        WHERE id = $1`,
      [id, error ? 'failed' : 'done', error, result === null ? null : JSON.stringify(result)],
    );
  }
}
