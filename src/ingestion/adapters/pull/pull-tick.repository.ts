import { claimScheduleTick, type Sql } from '../../../database/index.js';

/**
 * A pull source's scheduled ticks claimed in PostgreSQL (schedule_leases, name 'pull:<source>'),
 * as the lifecycle sweeps' are: every node's cron fires, and the node whose claim of the tick lands
 * first runs it, so a scheduled pull runs on one node per tick however many nodes are up (the
 * advisory lock in PullAdapter.run keeps two runs of one source from overlapping besides).
 */
export class PullTickRepository {
  /** Claims `tick` of a source's schedule for `holder`; false when another node has it. */
  claim(db: Sql, source: string, tick: Date, holder: string): Promise<boolean> {
    return claimScheduleTick(db, `pull:${source}`, tick, holder);
  }
}
