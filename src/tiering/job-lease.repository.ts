import { type Sql } from '../database/index.js';

/** A job a node just claimed, and whom it took it from (null: nobody held it). */
export interface ClaimedJob {
  id: string;
  kind: string;
  /** The node whose lease this claim replaced; null when the job was free. */
  previousHolder: string | null;
  /** When that lease ended (it had expired), or null. */
  previousLeaseUntil: string | null;
}

/** The SQL side of job leases, as the lease keeper uses it (a fake implements it in unit tests). */
export interface JobLeaseStore {
  claim(id: string, node: string, leaseMs: number, evenParked: boolean): Promise<ClaimedJob | null>;
  claimAvailable(
    kinds: readonly string[],
    node: string,
    leaseMs: number,
    limit: number,
    mine: { include: boolean; except: readonly string[] },
  ): Promise<ClaimedJob[]>;
  renew(ids: readonly string[], node: string, leaseMs: number): Promise<string[]>;
  release(id: string, node: string, park: boolean): Promise<void>;
}

const UNFINISHED = `status IN ('queued', 'running')`;

/**
 * Job leases in the jobs table (claimed_by, lease_until; migration JobLeases1764300016000). Times
 * are the database's (now()), one clock for every node. A claim is one atomic statement: it
 * succeeds only when the job is free, its lease expired, or the claimant already holds it.
 */
export class JobLeaseRepository implements JobLeaseStore {
  constructor(private readonly db: Sql) {}

  /**
   * Claims one job for `node`. `evenParked`: also a job its holder parked (lease_until infinity),
   * as a sweep's next tick does. Null when another node holds a live lease, or it is finished.
   */
  async claim(
    id: string,
    node: string,
    leaseMs: number,
    evenParked: boolean,
  ): Promise<ClaimedJob | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE jobs j SET claimed_by = $2, lease_until = now() + make_interval(secs => $3::float8 / 1000)
         FROM (SELECT id, claimed_by, lease_until FROM jobs WHERE id = $1 FOR UPDATE) old
        WHERE j.id = old.id AND j.${UNFINISHED}
          AND (old.claimed_by IS NULL OR old.claimed_by = $2 OR old.lease_until < now()
               OR ($4 AND old.lease_until = 'infinity'))
       RETURNING j.id, j.kind, old.claimed_by AS previous, old.lease_until AS previous_until`,
      [id, node, leaseMs, evenParked],
    );
    return row ? toClaimed(row, node) : null;
  }

  /**
   * Claims up to `limit` unfinished jobs of `kinds` that are free or whose lease expired, oldest
   * first, skipping rows another node is claiming at this moment (FOR UPDATE SKIP LOCKED). With
   * `mine.include`, also those held under this node's id (a restart after a crash: its own jobs
   * come back at once, not a lease later), except the ones it is running.
   */
  async claimAvailable(
    kinds: readonly string[],
    node: string,
    leaseMs: number,
    limit: number,
    mine: { include: boolean; except: readonly string[] },
  ): Promise<ClaimedJob[]> {
    if (kinds.length === 0 || limit <= 0) return [];
    const rows = await this.db.query<Row>(
      `WITH free AS (
         SELECT id, claimed_by, lease_until FROM jobs
          WHERE kind = ANY($1::text[]) AND ${UNFINISHED}
            AND (claimed_by IS NULL OR lease_until < now()
                 OR ($5 AND claimed_by = $2 AND NOT (id = ANY($6::bigint[]))))
          ORDER BY id LIMIT $4
          FOR UPDATE SKIP LOCKED)
       UPDATE jobs j SET claimed_by = $2, lease_until = now() + make_interval(secs => $3::float8 / 1000)
         FROM free WHERE j.id = free.id
       RETURNING j.id, j.kind, free.claimed_by AS previous, free.lease_until AS previous_until`,
      [kinds, node, leaseMs, limit, mine.include, mine.except],
    );
    return rows.map((r) => toClaimed(r, node)).sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** Extends this node's leases; returns the ids it still holds (the others were taken). */
  async renew(ids: readonly string[], node: string, leaseMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.query<{ id: string }>(
      `UPDATE jobs SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
        WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND lease_until <> 'infinity'
       RETURNING id`,
      [ids, node, leaseMs],
    );
    return rows.map((r) => String(r.id));
  }

  /**
   * Gives a job up: free for any node at once, or `park`ed (kept under this node's id with no
   * expiry: resumed by this node's restart or a claim that takes parked jobs).
   */
  async release(id: string, node: string, park: boolean): Promise<void> {
    await this.db.query(
      park
        ? `UPDATE jobs SET lease_until = 'infinity' WHERE id = $1 AND claimed_by = $2`
        : `UPDATE jobs SET claimed_by = NULL, lease_until = NULL WHERE id = $1 AND claimed_by = $2`,
      [id, node],
    );
  }
}

interface Row {
  id: string;
  kind: string;
  previous: string | null;
  previous_until: Date | string | null;
}

function toClaimed(r: Row, node: string): ClaimedJob {
  const until = r.previous_until;
  return {
    id: String(r.id),
    kind: r.kind,
    // A claim of one's own job is not a take-over.
    previousHolder: r.previous === node ? null : r.previous,
    previousLeaseUntil:
      r.previous === node || until === null
        ? null
        : until instanceof Date
          ? Number.isFinite(until.getTime())
            ? until.toISOString()
            : 'infinity'
          : String(until),
  };
}
