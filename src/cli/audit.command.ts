import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { type Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  type AuditBundle,
  type AuditFilter,
  AuditModule,
  type AuditQuery,
  AuditQueryError,
  AuditService,
  AuditTrailModule,
  BundleExporter,
  BundleFormatError,
  ChainCrypto,
  CheckpointService,
  listingWriter,
  parseAuditQuery,
  parseBundle,
  TrailVerifier,
  type TrailVerification,
  verifyBundle,
} from '../audit/index.js';
import { ConfigModule, loadConfig, type StrataConfig } from '../config/index.js';
import { type Database, DatabaseModule, openDatabase } from '../database/index.js';
import { StorageModule } from '../storage/index.js';

export const AUDIT_USAGE = `usage: strata audit <verify | search | export | checkpoint>

  verify [--json]        check the whole trail in the database: every row re-hashed from its
                         stored columns, the chain links, every signed checkpoint (signature and
                         position); reports what is missing, added, altered or reordered, by seq
  verify --bundle FILE [--key KEYFILE]... [--json]
                         check an exported bundle offline (no database, no server): its chain,
                         its checkpoint signatures (with the bundled public key, or the archive
                         key files given), and that a signed checkpoint covers its last row
  search [--patient-id ID] [--study UID] [--actor NAME] [--role ROLE] [--action A[,B...]]
         [--outcome success|warning|failure] [--from DATE] [--to DATE] [--after SEQ]
         [--limit N] [--format json|csv|ndjson|dicom|fhir]
                         events in chain order to stdout, every match unless --limit; DATE is
                         2025-01-01 or an ISO 8601 date-time with offset; --from inclusive, --to
                         exclusive. "Who accessed patient X in 2025":
                         strata audit search --patient-id X --from 2025-01-01 --to 2026-01-01
  export [--from DATE] [--to DATE] [--out FILE]
                         an offline-verifiable bundle of the events in [from, to) (JSON, to stdout
                         or FILE): rows, chain links, signed checkpoints, the archive's public key
  checkpoint             sign the chain head now (unless a checkpoint already covers it)

Searches and exports are themselves audited. Exits 0 on success (verify: valid and, for a
bundle, covered by a signed checkpoint), 1 when invalid or failed, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${AUDIT_USAGE}`);
  return 2;
}

const cliActor = () => ({ actor: `cli:${userInfo().username}`, actorHost: hostname() });

/** The audit services for one command; `signing` adds the archive key (verify, export, checkpoint). */
@Module({})
class AuditCliModule {
  static forRoot(config: StrataConfig, database: Database, signing: boolean): DynamicModule {
    return {
      module: AuditCliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(database),
        AuditModule,
        ...(signing ? [AuditTrailModule.forRoot({ schedule: false, signer: StorageModule })] : []),
      ],
    };
  }
}

async function withAuditApp<T>(
  log: Log,
  signing: boolean,
  work: (app: INestApplicationContext, config: StrataConfig) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(config, log);
  try {
    const app = await NestFactory.createApplicationContext(
      AuditCliModule.forRoot(config, db.database, signing),
      { logger: ['error', 'warn'] },
    );
    try {
      return await work(app, config);
    } finally {
      await app.close();
    }
  } finally {
    await db.close();
  }
}

/** Writes to a stream, waiting when it is full. */
async function put(out: Writable, text: string): Promise<void> {
  if (text.length > 0 && !out.write(text)) await once(out, 'drain');
}

export async function auditCommand(argv: string[], log: Log): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return verifyCommand(rest, log);
    case 'search':
      return searchCommand(rest, log);
    case 'export':
      return exportCommand(rest, log);
    case 'checkpoint':
      if (rest.length > 0) return usageError(`unexpected argument '${rest[0]}'`);
      return withAuditApp(log, true, async (app) => {
        const c = await app.get(CheckpointService).checkpointNow();
        if (c)
          console.log(
            `signed a checkpoint at seq ${c.seq} (hash ${c.hash}) with ${c.keyFingerprint}`,
          );
        else
          console.log(
            'nothing to sign: the chain head is already covered by a checkpoint (or the trail is empty)',
          );
        return 0;
      });
    default:
      return usageError(sub ? `unknown audit command '${sub}'` : 'which audit command?');
  }
}

async function verifyCommand(argv: string[], log: Log): Promise<number> {
  let values: { bundle?: string; key?: string[]; json?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        bundle: { type: 'string' },
        key: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (values.key && !values.bundle) return usageError('--key goes with --bundle');
  if (values.bundle) return verifyBundleFile(values.bundle, values.key ?? [], values.json === true);
  return withAuditApp(log, true, async (app) => {
    const result = await app.get(TrailVerifier).verify();
    await app.get(AuditService).recordAlone({
      ...cliActor(),
      action: 'audit.verified',
      outcome: result.valid ? 'success' : 'warning',
      detail: {
        valid: result.valid,
        rowsChecked: result.rowsChecked,
        problems: result.problems.length,
      },
    });
    console.log(values.json ? JSON.stringify(result, null, 2) : describeVerification(result));
    return result.valid ? 0 : 1;
  });
}

function describeVerification(r: TrailVerification): string {
  const lines: string[] = [];
  const span =
    r.firstSeq === null ? 'no rows' : `${r.rowsChecked} rows (seq ${r.firstSeq} to ${r.lastSeq})`;
  if (r.valid) {
    lines.push(
      `audit trail VALID: ${span} re-hashed from their columns in ${r.seconds.toFixed(1)} s; the chain is intact.`,
    );
  } else {
    lines.push(`audit trail INVALID: ${span} checked in ${r.seconds.toFixed(1)} s.`);
    lines.push(`first broken link: ${r.firstBrokenLink?.message ?? '(see --json)'}`);
    for (const p of r.problems.slice(0, 50)) lines.push(`  - [${p.kind}] ${p.message}`);
    if (r.problems.length > 50 || r.truncated)
      lines.push(`  ... more (strata audit verify --json)`);
  }
  const c = r.checkpoints;
  lines.push(
    c.checked === 0
      ? 'checkpoints: none yet.'
      : `checkpoints: ${c.valid} of ${c.checked} signatures verified` +
          (c.signers.length > 0
            ? ` (by ${c.signers.map((s) => `${s.fingerprint}${s.held ? '' : ', not held here'}`).join('; ')})`
            : '') +
          (c.latest ? `; the last valid one signs seq ${c.latest.seq} (${c.latest.at}).` : '.'),
  );
  if (r.uncoveredTail) {
    lines.push(
      `not yet covered by a signed checkpoint: seq ${r.uncoveredTail.fromSeq} to ${r.uncoveredTail.toSeq} (${r.uncoveredTail.rows} rows).`,
    );
  }
  if (r.legacyRows > 0)
    lines.push(`${r.legacyRows} rows predate position hashing (their seq is not hashed).`);
  lines.push(`database: ${r.protection.note}.`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

async function verifyBundleFile(file: string, keyFiles: string[], json: boolean): Promise<number> {
  let text: string;
  const keys: string[] = [];
  try {
    text = await readFile(resolve(file), 'utf8');
    for (const k of keyFiles) keys.push(await readFile(resolve(k), 'utf8'));
  } catch (error) {
    console.error(
      `strata: cannot read ${(error as NodeJS.ErrnoException).path ?? file}: ${(error as Error).message}`,
    );
    return 2;
  }
  let bundle: AuditBundle;
  try {
    bundle = parseBundle(JSON.parse(text));
  } catch (error) {
    const why =
      error instanceof BundleFormatError || error instanceof SyntaxError
        ? error.message
        : String(error);
    console.error(`strata: ${file} is not a valid Strata audit bundle: ${why}`);
    return 1;
  }
  const result = await verifyBundle(new ChainCrypto(), bundle, keys.length > 0 ? keys : null);
  console.log(json ? JSON.stringify(result, null, 2) : result.summary);
  return result.valid && result.covered ? 0 : 1;
}

/** The CLI's options under the HTTP API's parameter names (one parser, the same rules). */
const SEARCH_OPTIONS = {
  'patient-id': 'patientId',
  study: 'studyInstanceUid',
  actor: 'actor',
  role: 'role',
  action: 'action',
  outcome: 'outcome',
  from: 'from',
  to: 'to',
  after: 'after',
  limit: 'limit',
  format: 'format',
} as const;

async function searchCommand(argv: string[], log: Log): Promise<number> {
  let query: AuditQuery;
  let paged: boolean;
  try {
    const { values } = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.keys(SEARCH_OPTIONS).map((k) => [k, { type: 'string' as const }]),
      ),
      strict: true,
      allowPositionals: false,
    });
    query = parseAuditQuery(
      Object.fromEntries(
        Object.entries(values).map(([k, v]) => [
          SEARCH_OPTIONS[k as keyof typeof SEARCH_OPTIONS],
          v,
        ]),
      ),
    );
    paged = values.limit !== undefined;
  } catch (error) {
    if (error instanceof AuditQueryError) {
      const option = Object.entries(SEARCH_OPTIONS).reduce(
        (m, [cli, api]) => m.replace(new RegExp(`^${api}\\b`), `--${cli}`),
        error.message,
      );
      return usageError(option);
    }
    return usageError((error as Error).message);
  }
  // The CLI pages only when asked: without --limit, every matching row.
  const limit = paged ? query.limit : null;
  return withAuditApp(log, false, async (app, config) => {
    const audit = app.get(AuditService);
    const writer = listingWriter(query.format, config);
    let rows = 0;
    let last = 0;
    await put(process.stdout, writer.open(null));
    for await (const batch of audit.stream(query.filter, limit)) {
      await put(process.stdout, writer.rows(batch, rows === 0));
      rows += batch.length;
      last = batch[batch.length - 1]!.seq;
    }
    const next = limit !== null && rows === limit ? last : null;
    await put(process.stdout, writer.close(next));
    if (next !== null) log.log(`${rows} events; more after seq ${next} (--after ${next})`);
    await recordRead(audit, 'audit.queried', query.filter, { format: query.format, rows });
    return 0;
  });
}

async function exportCommand(argv: string[], log: Log): Promise<number> {
  let values: { from?: string; to?: string; out?: string };
  let filter: AuditFilter;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
    filter = parseAuditQuery({ from: values.from, to: values.to }).filter;
  } catch (error) {
    const message = (error as Error).message.replace(/^(from|to)\b/, '--$1');
    return usageError(message);
  }
  return withAuditApp(log, true, async (app) => {
    const out = values.out ? resolve(values.out) : null;
    const partial = out ? `${out}.partial` : null;
    const target: Writable = partial ? createWriteStream(partial, { mode: 0o600 }) : process.stdout;
    const counts = { rows: 0, continuation: 0 };
    try {
      for await (const piece of app
        .get(BundleExporter)
        .export(filter.from ?? null, filter.to ?? null, new Date(), counts)) {
        await put(target, piece);
      }
      if (partial) {
        target.end();
        await once(target, 'finish');
        await rename(partial, out!);
      }
    } catch (error) {
      if (partial) {
        target.destroy();
        await rm(partial, { force: true });
      }
      throw error;
    }
    await recordRead(app.get(AuditService), 'audit.exported', filter, {
      from: filter.from ?? null,
      to: filter.to ?? null,
      rows: counts.rows,
    });
    if (out)
      log.log(
        `wrote ${counts.rows} events (and ${counts.continuation} up to the covering checkpoint) to ${out}`,
      );
    return 0;
  });
}

function recordRead(
  audit: AuditService,
  action: string,
  filter: AuditFilter,
  detail: Record<string, unknown>,
): Promise<void> {
  const { patientId, studyInstanceUid, ...rest } = filter;
  return audit.recordAlone({
    ...cliActor(),
    action,
    outcome: 'success',
    patientId: patientId ?? null,
    studyInstanceUid: studyInstanceUid ?? null,
    detail: { ...detail, filter: rest },
  });
}
