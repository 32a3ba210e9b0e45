import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Presets, SingleBar } from 'cli-progress';
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import {
  ConfigModule,
  loadConfig,
  type StrataConfig,
  TIER_NAMES,
  type TierName,
} from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { type Job, TieringModule, TierMover } from '../tiering/index.js';

export const TIER_USAGE = `usage: strata tier move --study UID [--series UID] --to hot|warm|cold

Moves the study's (or the series') objects to the tier, as a job recorded in the catalog (the
same job the HTTP API runs: copy, verify, record, remove; resumable). Shows progress; exits 0
when the move is done, 1 when it failed, 2 on a usage error.`;

@Module({})
class TierCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: TierCliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        TieringModule.forRoot({ resumeJobs: false, http: false }),
      ],
    };
  }
}

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

  const config = loadConfig();
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    TierCliModule.forRoot(config, db.database),
    {
      logger: ['error', 'warn'],
    },
  );
  try {
    const found = await db.database.query(
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
    const bar = new SingleBar(
      {
        format: `moving to ${values.to} |{bar}| {value}/{total} objects, {mb} MB`,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    bar.start(1, 0, { mb: '0.0' });
    const show = (j: Job) => {
      bar.setTotal(Math.max(j.total, 1));
      bar.update(j.done, { mb: (j.bytesDone / 1e6).toFixed(1) });
    };
    const timer = setInterval(() => {
      void mover.getJob(job.id).then((j) => j && show(j));
    }, 200);
    await mover.idle();
    clearInterval(timer);
    const end = (await mover.getJob(job.id))!;
    show(end);
    bar.stop();
    if (end.status !== 'done') {
      console.error(`strata: move job ${end.id} failed: ${end.error ?? 'unknown error'}`);
      return 1;
    }
    console.log(
      `job ${end.id}: moved ${end.done} object(s), ${(end.bytesDone / 1e6).toFixed(1)} MB, to ${values.to}`,
    );
    return 0;
  } finally {
    await app.close();
    await db.close();
  }
}
