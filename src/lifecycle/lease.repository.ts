import { claimScheduleTick, type Sql } from '../database/index.js';

/**
 * Scheduled ticks claimed in PostgreSQL: with several nodes on one database, every node's cron
 * fires, and the one whose claim of the tick lands first runs it. A claim succeeds only for a tick
 * later than the last one claimed, so each tick runs once, whatever the clocks' small skews.
 */
export class LeaseRepository {
  /** Claims `tick` of a schedule for `holder`; false when another node has it, or it is paused. */
  claim(db: Sql, name: string, tick: Date, holder: string): Promise<boolean> {
    return claimScheduleTick(db, name, tick, holder);
  }

  async setPaused(db: Sql, name: string, paused: boolean): Promise<void> {
    await db.query(
      `INSERT INTO schedule_leases (name, holder, paused) VALUES ($1, '', $2)
       ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused`,
      [name, paused],
    );
  }

  async isPaused(db: Sql, name: string): Promise<boolean> {
    const [row] = await db.query<{ paused: boolean }>(
      'SELECT paused FROM schedule_leases WHERE name = $1',
      [name],
    );
    return row?.paused ?? false;
  }

  async list(
    db: Sql,
  ): Promise<{ name: string; lastTick: string | null; holder: string; paused: boolean }[]> {
    const rows = await db.query<{ name: string; last_tick: Date; holder: string; paused: boolean }>(
      'SELECT name, last_tick, holder, paused FROM schedule_leases ORDER BY name',
    );
    return rows.map((r) => ({
      name: r.name,
      lastTick: r.last_tick.getTime() === 0 ? null : r.last_tick.toISOString(),
      holder: r.holder,
      paused: r.paused,
    }));
  }
}
