import { type DynamicModule, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { DimseModule } from '../dimse/index.js';
import {
  DicomwebPullAdapter,
  DicomwebPullModule,
  DimsePullAdapter,
  DimsePullModule,
  OrthancPullAdapter,
  OrthancPullModule,
  type PullAdapter,
  type PullResult,
} from '../ingestion/index.js';

export const PULL_USAGE = `usage: strata pull SOURCE [--json]

Runs a pull source of the config file now, in this process: from its checkpoint until the source
is drained (orthanc-pull: Orthanc's change feed; dicomweb-pull: QIDO-RS + WADO-RS by study;
dimse-pull: C-FIND + C-MOVE or C-GET by study). Every instance goes through the ingestion pipeline; the checkpoint is saved as it goes, so a run that
stops (the source went away, Ctrl-C, a crash) goes on from there next time, and a run with nothing
new fetches nothing. Prints what was fetched, stored, already there and refused.
A dimse-pull source retrieving with C-MOVE needs the server running: the PACS sends the instances
to its DICOM port (moveDestination), where they are recorded under the source.
Exits 0 when the source was drained, 1 when the run stopped early, 2 on a usage error.`;

@Module({})
class PullCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: PullCliModule,
      // DimseModule: the ingestion context registers its DIMSE services there (never served here).
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        DimseModule,
        OrthancPullModule,
        DicomwebPullModule,
        DimsePullModule,
      ],
    };
  }
}

const stderrLogger: LoggerService = {
  log: () => undefined,
  warn: (m: unknown) => console.error(`warning: ${String(m)}`),
  error: (m: unknown) => console.error(`error: ${String(m)}`),
};

function describe(r: PullResult): string {
  const refused = Object.entries(r.refusedBy)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return (
    `${r.adapter} ${r.source}: ${r.fetched} fetched (${(r.bytes / 1e6).toFixed(1)} MB), ${r.stored} stored, ` +
    `${r.newVersions} new versions, ${r.duplicates} already there, ${r.refused} refused` +
    `${refused ? ` (${refused})` : ''}${r.error ? `; stopped: ${r.error}` : '; drained'}`
  );
}

export async function pullCommand(
  argv: string[],
  log: { log: (m: string) => void; warn: (m: string) => void },
): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [name, ...extra] = args;
  if (!name || name.startsWith('-') || extra.length > 0) {
    console.error(
      `strata: ${name ? `unexpected argument '${extra[0] ?? name}'` : 'which SOURCE?'}\n\n${PULL_USAGE}`,
    );
    return 2;
  }
  const config = loadConfig();
  const source = config.sources[name];
  const adapters = {
    'orthanc-pull': OrthancPullAdapter,
    'dicomweb-pull': DicomwebPullAdapter,
    'dimse-pull': DimsePullAdapter,
  } as const;
  if (!source || !(source.adapter in adapters)) {
    console.error(
      `strata: '${name}' is not a configured pull source (${Object.keys(adapters).join(', ')})`,
    );
    return 2;
  }
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    PullCliModule.forRoot(config, db.database),
    {
      logger: stderrLogger,
    },
  );
  try {
    const adapter: PullAdapter = app.get(adapters[source.adapter as keyof typeof adapters]);
    let shown = 0;
    const result = await adapter.run(name, (r) => {
      if (r.fetched - shown >= 50) {
        shown = r.fetched;
        console.error(`pulling ${name}: ${r.fetched} fetched, ${(r.bytes / 1e6).toFixed(1)} MB`);
      }
    });
    if (result === null) {
      console.error(`strata: ${name} is being pulled by another process`);
      return 1;
    }
    console.log(json ? JSON.stringify(result, null, 2) : describe(result));
    return result.error ? 1 : 0;
  } finally {
    await app.close();
    await db.close();
  }
}
