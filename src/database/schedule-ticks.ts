import { type Sql } from './database.js';

/**
 * Claims one tick of a cron schedule (schedule_leases) for `holder`. Every node's cron fires; the
 * claim that lands first wins, and a claim succeeds only for a tick later than the last one
 * claimed, so each tick runs once, whatever the clocks' small skews. False when another node has
 * it, or the schedule is paused. Shared by the lifecycle sweeps and the pull sources.
 */
export async function claimScheduleTick(
  db: Sql,
  name: string,
  tick: Date,
  holder: string,
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO schedule_leases (name, last_tick, holder) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET last_tick = EXCLUDED.last_tick, holder = EXCLUDED.holder,
                                      claimed_at = clock_timestamp()
      WHERE schedule_leases.last_tick < EXCLUDED.last_tick AND NOT schedule_leases.paused
     RETURNING 1`,
    [name, tick, holder],
  );
  return rows.length > 0;
}
