import { type Sql } from '../database/index.js';

export type RecipientRole = 'archive' | 'escrow';

export interface KeyRecipient {
  fingerprint: string;
  role: RecipientRole;
  status: 'active' | 'retired';
  publicKey: string;
  label: string | null;
  createdAt: string;
  retiredAt: string | null;
}

interface Row {
  fingerprint: string;
  role: RecipientRole;
  status: 'active' | 'retired';
  public_key: string;
  label: string | null;
  created_at: Date;
  retired_at: Date | null;
}

const toRecipient = (r: Row): KeyRecipient => ({
  fingerprint: r.fingerprint,
  role: r.role,
  status: r.status,
  publicKey: r.public_key,
  label: r.label,
  createdAt: r.created_at.toISOString(),
  retiredAt: r.retired_at?.toISOString() ?? null,
});

/**
 * The key ring in the catalog (key_recipients): who study session keys are wrapped for. The
 * current archive key is the newest active one of role 'archive'.
 */
export class KeyRecipientRepository {
  constructor(private readonly db: Sql) {}

  /** Every recipient, active first, newest first within each role. */
  async all(sql: Sql = this.db): Promise<KeyRecipient[]> {
    const rows = await sql.query<Row>(
      `SELECT * FROM key_recipients
        ORDER BY status, CASE role WHEN 'archive' THEN 0 ELSE 1 END, created_at DESC`,
    );
    return rows.map(toRecipient);
  }

  async find(fingerprint: string, sql: Sql = this.db): Promise<KeyRecipient | null> {
    const [row] = await sql.query<Row>('SELECT * FROM key_recipients WHERE fingerprint = $1', [
      fingerprint,
    ]);
    return row ? toRecipient(row) : null;
  }

  /** The active set, current archive key first: what a new study key is wrapped for. */
  async activeFingerprints(): Promise<{ fingerprint: string; role: RecipientRole }[]> {
    return this.db.query(
      `SELECT fingerprint, role FROM key_recipients WHERE status = 'active'
        ORDER BY CASE role WHEN 'archive' THEN 0 ELSE 1 END, created_at DESC`,
    );
  }

  async publicKeyOf(fingerprint: string): Promise<string | null> {
    const [row] = await this.db.query<{ public_key: string }>(
      'SELECT public_key FROM key_recipients WHERE fingerprint = $1',
      [fingerprint],
    );
    return row?.public_key ?? null;
  }

  /** Adds a recipient unless its fingerprint is known (active or retired); returns whether added. */
  async insert(
    sql: Sql,
    r: { fingerprint: string; role: RecipientRole; publicKey: string; label: string | null },
  ): Promise<boolean> {
    const rows = await sql.query(
      `INSERT INTO key_recipients (fingerprint, role, status, public_key, label)
       VALUES ($1, $2, 'active', $3, $4) ON CONFLICT (fingerprint) DO NOTHING RETURNING 1`,
      [r.fingerprint, r.role, r.publicKey, r.label],
    );
    return rows.length > 0;
  }

  async markRetired(sql: Sql, fingerprint: string): Promise<void> {
    await sql.query(
      `UPDATE key_recipients SET status = 'retired', retired_at = now() WHERE fingerprint = $1`,
      [fingerprint],
    );
  }

  /** Studies holding a PKESK for each recipient, and the number of studies with a key at all. */
  async coverage(): Promise<{ studies: number; perRecipient: Map<string, number> }> {
    const rows = await this.db.query<{ fingerprint: string; n: number }>(
      `SELECT recipient_fingerprint AS fingerprint, count(*)::int AS n FROM study_keys
        GROUP BY recipient_fingerprint`,
    );
    const [count] = await this.db.query<{ n: number }>(
      'SELECT count(DISTINCT study_instance_uid)::int AS n FROM study_keys',
    );
    return {
      studies: count?.n ?? 0,
      perRecipient: new Map(rows.map((r) => [r.fingerprint, r.n])),
    };
  }
}
