import { SWEEP_NAMES, type SweepName } from '../config/index.js';
import { Sweeps } from '../lifecycle/index.js';
import { TierMover } from '../tiering/index.js';
import { actor } from './policy.command.js';
import { followJob, withTieringApp } from './tiering-app.js';

export const SWEEP_USAGE = `usage: strata sweep run retention|tiering|purge

Runs a lifecycle sweep now, in this process, with a progress bar (patients done of all): the same
job the schedule runs (batches, a checkpoint after each, resumable; an unfinished sweep of that
kind is continued rather than started again). The tiering sweep waits for the moves it asked for.
Prints what it did; exits 0 when it ended well, 1 when it failed, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

export async function sweepCommand(argv: string[], log: Log): Promise<number> {
  const [sub, name, ...extra] = argv;
  if (sub !== 'run' || !SWEEP_NAMES.includes(name as SweepName) || extra.length > 0) {
    console.error(
      `strata: ${sub === 'run' ? `which sweep? (${SWEEP_NAMES.join(', ')})` : `unknown sweep command '${sub ?? ''}'`}\n\n${SWEEP_USAGE}`,
    );
    return 2;
  }
  return withTieringApp(log, async (app) => {
    const sweeps = app.get(Sweeps);
    const { job, finished } = await sweeps.start(name as SweepName, actor().actor);
    const ended = await followJob(
      `${name} sweep`,
      () => app.get(TierMover).getJob(job.id),
      finished.then(() => app.get(TierMover).idle()),
      'patients',
    );
    const r = (ended.result ?? {}) as Record<string, unknown>;
    console.log(
      `${name} sweep (job ${ended.id}) ${ended.status}: ${String(r.evaluated ?? 0)} studies evaluated, ` +
        `${String(r.expired ?? 0)} expired, ${String(r.purged ?? 0)} purged, ${String(r.moves ?? 0)} moves, ` +
        `${String(r.blocked ?? 0)} blocked by holds${r.stoppedBecause ? `; stopped: ${String(r.stoppedBecause)}` : ''}`,
    );
    if (ended.error) console.error(`strata: ${ended.error}`);
    return ended.status === 'done' || ended.status === 'running' ? 0 : 1;
  });
}
