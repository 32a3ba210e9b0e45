import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Presets, SingleBar } from 'cli-progress';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { AuditModule, AuditService } from '../audit/index.js';
import { CatalogModule, CatalogReadService } from '../catalog/index.js';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { writePart10Meta } from '../dicom/index.js';
import { BlobStore, StorageModule } from '../storage/index.js';

export const EXPORT_USAGE = `usage: strata export --study UID --format pgp|dcm --out DIR

Disaster-recovery export of one study into DIR/<SeriesInstanceUID>/<SOPInstanceUID>.pgp|.dcm:
  pgp  self-contained OpenPGP messages (RFC 9580: every recipient's PKESK, then SEIPDv2 AES-256-GCM)
       that decrypt, with the archive's or an escrow private key, to the instance's Part 10 file
  dcm  the plain Part 10 files (handle them as patient data)
with DIR/manifest.json (UIDs, sizes, SHA-256 of each file) and DIR/SHA256SUMS (sha256sum -c).
The export is audited. Exits 0 when every instance was written, 1 otherwise, 2 on a usage error.`;

@Module({})
class ExportCliModule {
  static forRoot(config: StrataConfig, database: Database): DynamicModule {
    return {
      module: ExportCliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        StorageModule,
        CatalogModule,
        AuditModule,
      ],
    };
  }
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

interface ManifestEntry {
  file: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  bytes: number;
  sha256: string;
}

export async function exportCommand(
  argv: string[],
  log: { log: (m: string) => void; warn: (m: string) => void },
): Promise<number> {
  let values: { study?: string; format?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { study: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    console.error(`strata: ${(error as Error).message}\n\n${EXPORT_USAGE}`);
    return 2;
  }
  const problems: string[] = [];
  if (!values.study || !UID.test(values.study)) problems.push('--study needs a Study Instance UID');
  if (values.format !== 'pgp' && values.format !== 'dcm')
    problems.push('--format needs pgp or dcm');
  if (!values.out) problems.push('--out needs a folder');
  if (problems.length > 0) {
    console.error(`strata: ${problems.join('; ')}\n\n${EXPORT_USAGE}`);
    return 2;
  }
  const study = values.study!;
  const format = values.format as 'pgp' | 'dcm';
  const out = resolve(values.out!);

  const config = loadConfig();
  const db = await openDatabase(config, log);
  const app = await NestFactory.createApplicationContext(
    ExportCliModule.forRoot(config, db.database),
    {
      logger: ['error', 'warn'],
    },
  );
  try {
    const catalog = app.get(CatalogReadService);
    const blobs = app.get(BlobStore);
    const audit = app.get(AuditService);
    const instances = await catalog.findInstancesForRetrieval({ studyInstanceUid: study });
    if (instances.length === 0) {
      console.error('strata: the study is not in the archive');
      return 1;
    }
    // Copies in an archive storage class (Glacier) need a restore first: ask for it, say when.
    const located = instances.filter((i) => i.location !== null).map((i) => i.location!);
    const states = await Promise.all(located.map((l) => blobs.restoreState(l)));
    if (states.some((st) => st !== 'ready')) {
      let longest = 0;
      let requested = 0;
      for (const [n, state] of states.entries()) {
        if (state !== 'archived') continue;
        longest = Math.max(longest, (await blobs.requestRestore(located[n]!)).expectedSeconds);
        requested++;
      }
      if (requested > 0) {
        await audit.recordAlone({
          actor: `cli:${userInfo().username}`,
          actorHost: hostname(),
          action: 'study.restore-requested',
          outcome: 'success',
          studyInstanceUid: study,
          instances: requested,
          detail: { for: 'export', expectedSeconds: longest },
        });
      }
      const waiting = states.filter((st) => st !== 'ready').length;
      console.error(
        `strata: ${waiting} instance(s) of the study are in archive storage and being restored` +
          (longest > 0 ? ` (expected within ${Math.ceil(longest / 60)} min)` : '') +
          '; nothing was exported: run the export again once they are restored',
      );
      return 1;
    }
    await mkdir(out, { recursive: true });
    const bar = new SingleBar(
      { format: `exporting (${format}) |{bar}| {value}/{total} instances` },
      Presets.shades_classic,
    );
    bar.start(instances.length, 0);
    const manifest: ManifestEntry[] = [];
    const failures: string[] = [];
    for (const i of instances) {
      const file = join(i.seriesInstanceUid, `${i.sopInstanceUid}.${format}`);
      try {
        if (!i.location) throw new Error('no readable copy');
        const meta = writePart10Meta({
          sopClassUid: i.sopClassUid,
          sopInstanceUid: i.sopInstanceUid,
          transferSyntaxUid: i.transferSyntaxUid,
        });
        const body =
          format === 'pgp'
            ? await blobs.exportMessage(i.location, study, meta)
            : Readable.from(
                (async function* () {
                  yield meta;
                  yield* (await blobs.openPlaintext(i.location!, study)) as AsyncIterable<Buffer>;
                })(),
                { objectMode: false },
              );
        const { bytes, sha256 } = await writeFileFrom(join(out, file), body);
        manifest.push({
          file: file.split('\\').join('/'),
          seriesInstanceUid: i.seriesInstanceUid,
          sopInstanceUid: i.sopInstanceUid,
          sopClassUid: i.sopClassUid,
          transferSyntaxUid: i.transferSyntaxUid,
          bytes,
          sha256,
        });
      } catch (error) {
        failures.push(
          `${i.sopInstanceUid}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      bar.increment();
    }
    bar.stop();
    await writeFile(
      join(out, 'manifest.json'),
      `${JSON.stringify({ studyInstanceUid: study, format, exportedAt: new Date().toISOString(), files: manifest }, null, 2)}\n`,
    );
    await writeFile(
      join(out, 'SHA256SUMS'),
      manifest.map((m) => `${m.sha256}  ${m.file}\n`).join(''),
    );
    await audit.recordAlone({
      actor: `cli:${userInfo().username}`,
      actorHost: hostname(),
      action: 'study.exported',
      outcome: failures.length === 0 ? 'success' : 'failure',
      patientId: instances[0]!.patientId,
      studyInstanceUid: study,
      instances: manifest.length,
      detail: { format, out, failed: failures.length },
    });
    for (const f of failures) console.error(`strata: not exported: ${f}`);
    console.log(
      `exported ${manifest.length} of ${instances.length} instance(s) to ${out} (${format})`,
    );
    return failures.length === 0 ? 0 : 1;
  } finally {
    await app.close();
    await db.close();
  }
}

/** Writes a stream to a file (temp name, then rename): its size and SHA-256. */
async function writeFileFrom(
  path: string,
  body: Readable,
): Promise<{ bytes: number; sha256: string }> {
  await mkdir(join(path, '..'), { recursive: true });
  const hash = createHash('sha256');
  let bytes = 0;
  const temp = `${path}.part`;
  // A failed write leaves no partial file (with --format dcm it would be plain patient data).
  await pipeline(
    body,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(temp),
  ).catch(async (error: unknown) => {
    await rm(temp, { force: true });
    throw error;
  });
  await rename(temp, path);
  return { bytes, sha256: hash.digest('hex') };
}
