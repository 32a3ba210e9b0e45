import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { TIER_NAMES, type TierName } from '../config/index.js';
import { TierMover } from '../tiering/index.js';
import { followJob, withTieringApp } from './tiering-app.js';

export const TIER_USAGE = `usage: strata tier move --study UID [--series UID] --to hot|warm|cold

Moves the study's (or the series') objects to the tier, as a job recorded in the catalog (the
same job the HTTP API runs: copy, verify, record, remove; resumable). Shows progress; exits 0
when the move is done, 1 when it failed, 2 on a usage error.`;

const UID = /^[0-9]+(\.[0-9]+)*$/;

export async function tierCommand(
  argv: string[],
  log: { log: (m: string) => void; warn: (m: string) => void },
): Promise<number> {
  const [sub, ...rest] = argv;
  let values: { study?: string; series?: string; to?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { study: { type: 'string' }, series: { type: 'string' }, to: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    console.error(`strata: ${(error as Error).message}\n\n${TIER_USAGE}`);
    return 2;
  }
  const problems: string[] = [];
  if (sub !== 'move') problems.push(`unknown tier command '${sub ?? ''}'`);
  if (!values.study || !UID.test(values.study)) problems.push('--study needs a Study Instance UID');
  if (values.series !== undefined && !UID.test(values.series))
    problems.push('--series needs a Series Instance UID');
  if (!TIER_NAMES.includes(values.to as TierName))
    problems.push(`--to needs one of ${TIER_NAMES.join(', ')}`);
  if (problems.length > 0) {
    console.error(`strata: ${problems.join('; ')}\n\n${TIER_USAGE}`);
    return 2;
  }

  return withTieringApp(log, async (app, db) => {
    const found = await db.query(
      `SELECT 1 FROM studies st
         ${values.series ? 'JOIN series se ON se.study_fk = st.id AND se.series_instance_uid = $2' : ''}
        WHERE st.study_instance_uid = $1`,
      values.series ? [values.study, values.series] : [values.study],
    );
    if (found.length === 0) {
      console.error(`strata: the ${values.series ? 'series' : 'study'} is not in the archive`);
      return 1;
    }
    const mover = app.get(TierMover);
    const job = await mover.request({
      studyInstanceUid: values.study!,
      seriesInstanceUid: values.series ?? null,
      tier: values.to as TierName,
      actor: `cli:${userInfo().username}`,
      actorHost: hostname(),
    });
    const end = await followJob(`moving to ${values.to}`, () => mover.getJob(job.id), mover.idle());
    if (end.status !== 'done') {
      console.error(`strata: move job ${end.id} failed: ${end.error ?? 'unknown error'}`);
      return 1;
    }
    console.log(
      `job ${end.id}: moved ${end.done} object(s), ${(end.bytesDone / 1e6).toFixed(1)} MB, to ${values.to}`,
    );
    return 0;
  });
}
