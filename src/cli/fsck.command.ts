import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { TIER_NAMES, type TierName } from '../config/index.js';
import { FixityService, type FixityResult, TierMover } from '../tiering/index.js';
import { followJob, withTieringApp } from './tiering-app.js';

export const FSCK_USAGE = `usage: strata fsck [--tier hot|warm|cold] [--sample N%] [--include-cold] [--deep]

Reads every stored copy (or a random N% of them), decrypts it and checks it against its blob's
digest and size. Bad copies are marked, audited, and repaired from another good copy when one
exists. The cold tier is read only with --tier cold or --include-cold (restores and retrieval
fees). A copy whose S3 ETag was confirmed at write is checked with a HEAD request (still there,
same checksum and size) unless --deep, which reads and decrypts every copy. Exits 0 when every copy checked is good or was repaired, 1 otherwise, 2 on a usage error.`;

export async function fsckCommand(
  argv: string[],
  log: { log: (m: string) => void; warn: (m: string) => void },
): Promise<number> {
  let values: { tier?: string; sample?: string; 'include-cold'?: boolean; deep?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tier: { type: 'string' },
        sample: { type: 'string' },
        'include-cold': { type: 'boolean' },
        deep: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`strata: ${(error as Error).message}\n\n${FSCK_USAGE}`);
    return 2;
  }
  const sample = values.sample === undefined ? 100 : Number(values.sample.replace(/%$/, ''));
  const problems: string[] = [];
  if (values.tier !== undefined && !TIER_NAMES.includes(values.tier as TierName)) {
    problems.push(`--tier needs one of ${TIER_NAMES.join(', ')}`);
  }
  if (!(sample >= 1 && sample <= 100)) problems.push('--sample needs a percentage from 1 to 100');
  if (problems.length > 0) {
    console.error(`strata: ${problems.join('; ')}\n\n${FSCK_USAGE}`);
    return 2;
  }
  return withTieringApp(log, async (app) => {
    const fixity = app.get(FixityService);
    const jobs = app.get(TierMover);
    const job = await fixity.request({
      tier: (values.tier as TierName | undefined) ?? null,
      samplePercent: sample,
      includeCold: values['include-cold'] ?? false,
      deep: values.deep ?? false,
      actor: `cli:${userInfo().username}`,
      actorHost: hostname(),
    });
    const end = await followJob('checking', () => jobs.getJob(job.id), fixity.idle());
    if (end.status !== 'done') {
      console.error(`strata: fixity job ${end.id} failed: ${end.error ?? 'unknown error'}`);
      return 1;
    }
    const r = end.result as unknown as FixityResult;
    console.log(
      `job ${end.id}: ${r.checked} checked (${r.byChecksum} by the server's checksum), ${r.ok} good, ${r.missing} missing, ${r.corrupt} corrupt, ` +
        `${r.repaired} repaired, ${r.unrepaired} with no good copy left, ${r.unreadable} unreadable now`,
    );
    return r.unrepaired > 0 || r.unreadable > 0 ? 1 : 0;
  });
}
