import { type Sql } from '../../database/index.js';
import { type AuditRow } from '../audit-event.js';
import { positionsOf } from '../time-bounds.js';
import { type ChainRow } from './chain-verifier.js';
import { type Checkpoint } from './checkpoint.js';

/** Serialises checkpoint writers across nodes (a tick runs on one of them). */
const CHECKPOINT_LOCK = `SELECT pg_try_advisory_xact_lock(hashtext('strata:audit-checkpoint')) AS mine`;

/**
 * The time as the canonical encoding has it: milliseconds, as every appender writes it. A stored
 * time with other microseconds (written or changed by hand) keeps them, so it no longer hashes.
 */
const AT = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at`;
const COLUMNS = `seq, ${AT}, actor, actor_host, role, action, outcome, patient_id, study_instance_uid,
                 instances, detail, prev_hash, hash`;

interface StoredRow {
  seq: string;
  at: string;
  actor: string;
  actor_host: string | null;
  role: string | null;
  action: string;
  outcome: AuditRow['outcome'];
  patient_id: string | null;
  study_instance_uid: string | null;
  instances: number | null;
  detail: Record<string, unknown> | null;
  prev_hash: Buffer;
  hash: Buffer;
}

function isoAt(us: string): string {
  return `${us.endsWith('000') ? us.slice(0, -3) : us}Z`;
}

function toChainRow(r: StoredRow): ChainRow {
  return {
    seq: Number(r.seq),
    at: isoAt(r.at),
    actor: r.actor,
    actorHost: r.actor_host,
    role: r.role,
    action: r.action,
    outcome: r.outcome,
    patientId: r.patient_id,
    studyInstanceUid: r.study_instance_uid,
    instances: r.instances,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

interface CheckpointRow {
  seq: string;
  head_hash: Buffer;
  at: Date;
  signature: string;
  key_fingerprint: string;
}

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({
  seq: Number(r.seq),
  hash: r.head_hash.toString('hex'),
  at: r.at.toISOString(),
  signature: r.signature,
  keyFingerprint: r.key_fingerprint,
});

/** Who the application is to PostgreSQL, and whether it could switch the append-only triggers off. */
export interface TrailProtection {
  role: string;
  superuser: boolean;
  /** The role owns audit_events (or is a member of its owner): it may disable its triggers. */
  ownsTable: boolean;
  /** Each append-only trigger and its state: 'always', 'enabled', 'replica' or 'disabled'. */
  triggers: Record<string, string>;
}

/**
 * The audit chain as verification, checkpoints and export read it (audit_events, read-only here;
 * rows are appended only through strata_audit_append), and the signed checkpoints.
 */
export class AuditTrailRepository {
  /** The last row: the chain's head. */
  async head(db: Sql): Promise<{ seq: number; hash: string } | null> {
    const [row] = await db.query<{ seq: string; hash: Buffer }>(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    return row ? { seq: Number(row.seq), hash: row.hash.toString('hex') } : null;
  }

  /** The time of the first row after `seq` (the oldest one no checkpoint covers yet). */
  async firstAtAfter(db: Sql, seq: number): Promise<Date | null> {
    const [row] = await db.query<{ at: Date }>(
      'SELECT at FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1',
      [seq],
    );
    return row?.at ?? null;
  }

  /** Takes the checkpoint writers' lock for the transaction; false when another node holds it. */
  async tryCheckpointLock(tx: Sql): Promise<boolean> {
    const [row] = await tx.query<{ mine: boolean }>(CHECKPOINT_LOCK);
    return row?.mine === true;
  }

  async lastCheckpoint(db: Sql): Promise<Checkpoint | null> {
    const [row] = await db.query<CheckpointRow>(
      'SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1',
    );
    return row ? toCheckpoint(row) : null;
  }

  /** Adds a checkpoint unless one exists at that position; returns whether it was added. */
  async insertCheckpoint(tx: Sql, c: Checkpoint): Promise<boolean> {
    const rows = await tx.query(
      `INSERT INTO audit_checkpoints (seq, head_hash, at, signature, key_fingerprint)
       VALUES ($1, decode($2, 'hex'), $3, $4, $5) ON CONFLICT (seq) DO NOTHING RETURNING 1`,
      [c.seq, c.hash, c.at, c.signature, c.keyFingerprint],
    );
    return rows.length > 0;
  }

  /** Checkpoints in seq order, between two positions (inclusive) when given. */
  async checkpoints(db: Sql, fromSeq = 0, toSeq = Number.MAX_SAFE_INTEGER): Promise<Checkpoint[]> {
    const rows = await db.query<CheckpointRow>(
      'SELECT * FROM audit_checkpoints WHERE seq BETWEEN $1 AND $2 ORDER BY seq',
      [fromSeq, toSeq],
    );
    return rows.map(toCheckpoint);
  }

  /** The first checkpoint at or after a position (the one covering it). */
  async checkpointCovering(db: Sql, seq: number): Promise<Checkpoint | null> {
    const [row] = await db.query<CheckpointRow>(
      'SELECT * FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1',
      [seq],
    );
    return row ? toCheckpoint(row) : null;
  }

  /**
   * Up to `limit` rows after `afterSeq`, up to `endSeq`, in seq order (keyset pagination on the
   * primary key: no long transaction, and each batch starts where the last one ended).
   */
  async rowsAfter(db: Sql, afterSeq: number, endSeq: number, limit: number): Promise<ChainRow[]> {
    const rows = await db.query<StoredRow>(
      `SELECT ${COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
      [afterSeq, endSeq, limit],
    );
    return rows.map(toChainRow);
  }

  /** The hash of the row at a position, if there is one. */
  async hashAt(db: Sql, seq: number): Promise<Buffer | null> {
    const [row] = await db.query<{ hash: Buffer }>('SELECT hash FROM audit_events WHERE seq = $1', [
      seq,
    ]);
    return row?.hash ?? null;
  }

  /**
   * Where rows with these hashes, and rows linking to these hashes, are (one pass over the table:
   * only for the few rows verification finds out of place).
   */
  async locate(
    db: Sql,
    endSeq: number,
    hashes: Buffer[],
    prevHashes: Buffer[],
  ): Promise<{ byHash: Map<string, number>; byPrevHash: Map<string, number> }> {
    const rows = await db.query<{ seq: string; hash: Buffer; prev_hash: Buffer }>(
      `SELECT seq, hash, prev_hash FROM audit_events
        WHERE seq <= $1 AND (hash = ANY($2::bytea[]) OR prev_hash = ANY($3::bytea[]))`,
      [endSeq, hashes, prevHashes],
    );
    const wantedHash = new Set(hashes.map((h) => h.toString('hex')));
    const wantedPrev = new Set(prevHashes.map((h) => h.toString('hex')));
    const byHash = new Map<string, number>();
    const byPrevHash = new Map<string, number>();
    for (const r of rows) {
      const h = r.hash.toString('hex');
      const p = r.prev_hash.toString('hex');
      if (wantedHash.has(h)) byHash.set(h, Number(r.seq));
      if (wantedPrev.has(p)) byPrevHash.set(p, Number(r.seq));
    }
    return { byHash, byPrevHash };
  }

  /**
   * The chain positions spanning a time range [from, to): the first row at or after `from` and
   * the last row before `to` (see time-bounds.ts); null when no row is in the range.
   */
  async seqRange(
    db: Sql,
    from: string | null,
    to: string | null,
  ): Promise<{ firstSeq: number; lastSeq: number } | null> {
    const params: string[] = [];
    const param = (value: string | null) => {
      if (value === null) return null;
      params.push(value);
      return `$${params.length}::timestamptz`;
    };
    const { lo, hi } = positionsOf(param(from), param(to));
    const [row] = await db.query<{ first: string | null; last: string | null }>(
      `SELECT ${lo} AS first, ${hi} AS last`,
      params,
    );
    if (!row?.first || !row.last || Number(row.first) > Number(row.last)) return null;
    return { firstSeq: Number(row.first), lastSeq: Number(row.last) };
  }

  async protection(db: Sql): Promise<TrailProtection> {
    const [who] = await db.query<{ role: string; superuser: boolean; owns: boolean }>(
      `SELECT current_user AS role, r.rolsuper AS superuser,
              pg_has_role(current_user, c.relowner, 'USAGE') AS owns
         FROM pg_roles r, pg_class c
        WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass`,
    );
    const triggers = await db.query<{ name: string; state: string }>(
      `SELECT t.tgname AS name, t.tgenabled AS state FROM pg_trigger t
        WHERE t.tgrelid IN ('audit_events'::regclass, 'audit_checkpoints'::regclass)
          AND NOT t.tgisinternal ORDER BY t.tgname`,
    );
    const states: Record<string, string> = {
      A: 'always',
      O: 'enabled',
      R: 'replica',
      D: 'disabled',
    };
    return {
      role: who!.role,
      superuser: who!.superuser,
      ownsTable: who!.owns,
      triggers: Object.fromEntries(triggers.map((t) => [t.name, states[t.state] ?? t.state])),
    };
  }
}
