import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Presets, SingleBar } from 'cli-progress';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { KeysModule } from '../keys/index.js';
import { LifecycleModule } from '../lifecycle/index.js';
import { MetricsModule } from '../metrics/index.js';
import { type Job, TieringModule } from '../tiering/index.js';

/** The app context of a job run outside the server (CLI, benchmarks): no HTTP, no schedule. */
@Module({})
export class TieringCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    const tiering = TieringModule.forRoot({ resumeJobs: false, http: false });
    return {
      module: TieringCliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        MetricsModule,
        // Only the job asked for: no resuming of others, no schedule, no HTTP.
        tiering,
        KeysModule.forRoot({ resumeJobs: false, http: false }, tiering),
        LifecycleModule.forRoot({ resumeJobs: false, schedule: false, http: false }, tiering),
      ],
    };
  }
}

/** Opens the database and the job services (tiers, keys) for one CLI command, and closes them after. */
export async function withTieringApp<T>(
  log: { log: (m: string) => void; warn: (m: string) => void },
  work: (app: INestApplicationContext, db: Database) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    TieringCliModule.forRoot(config, db.database),
    { logger: ['error', 'warn'] },
  );
  try {
    return await work(app, db.database);
  } finally {
    await app.close();
    await db.close();
  }
}

/** Shows a job's progress on stderr until `finished` resolves; returns the job as it ended. */
export async function followJob(
  label: string,
  get: () => Promise<Job | null>,
  finished: Promise<void>,
  unit: 'objects' | 'studies' | 'patients' = 'objects',
): Promise<Job> {
  const format =
    unit === 'objects'
      ? `${label} |{bar}| {value}/{total} objects, {mb} MB`
      : `${label} |{bar}| {value}/{total} ${unit}`;
  const bar = new SingleBar({ format, hideCursor: true }, Presets.shades_classic);
  bar.start(1, 0, { mb: '0.0' });
  const show = (j: Job) => {
    bar.setTotal(Math.max(j.total, 1));
    bar.update(j.done, { mb: (j.bytesDone / 1e6).toFixed(1) });
  };
  const timer = setInterval(() => void get().then((j) => j && show(j)), 200);
  try {
    await finished;
  } finally {
    clearInterval(timer);
  }
  const end = (await get())!;
  show(end);
  bar.stop();
  return end;
}
