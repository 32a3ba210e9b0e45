import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import cron from 'node-cron';
import { parseDocument } from 'yaml';
import { type ZodError } from 'zod';
import { ConfigError } from './config-error.js';
import { parseTimeWindow } from './time-window.js';
import { configFileSchema, envSchema, type ConfigFile } from './config.schema.js';
import { sourceSettings } from './source-settings.js';
import { dicomTlsSettings, peerTlsSettings } from './dicom-tls-settings.js';
import { syslogSettings } from './syslog-settings.js';
import {
  type BackendConfig,
  DICOM_OPERATIONS,
  SWEEP_NAMES,
  type StrataConfig,
  type SweepName,
  type TierConfig,
  type TierName,
} from './strata-config.js';

export { ConfigError };

function describe(error: ZodError, where: (path: PropertyKey[]) => string): string {
  return error.issues.map((i) => `${where(i.path)}: ${i.message}`).join('; ');
}

function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config file ${path}: cannot be read (${(e as Error).message})`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(`config file ${path}: ${doc.errors[0]!.message}`);
  }
  const parsed = configFileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      `config file ${path}: ${describe(parsed.error, (p) => p.join('.') || '(root)')}`,
    );
  }
  return parsed.data;
}

/**
 * The only reader of process.env and of the config file. Relative paths resolve against the
 * working directory, as a user typing them expects.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): StrataConfig {
  const parsedEnv = envSchema.safeParse(env);
  if (!parsedEnv.success) {
    throw new ConfigError(
      `invalid environment: ${describe(parsedEnv.error, (p) => String(p[0] ?? ''))}`,
    );
  }
  const e = parsedEnv.data;
  const dataDir = resolve(e.STRATA_DATA_DIR);
  const configPath = e.STRATA_CONFIG
    ? resolve(e.STRATA_CONFIG)
    : existsSync('strata.config.yaml')
      ? resolve('strata.config.yaml')
      : null;
  if (e.STRATA_CONFIG && !existsSync(configPath!)) {
    throw new ConfigError(`STRATA_CONFIG: file ${configPath} does not exist`);
  }
  const file: ConfigFile = configPath ? readConfigFile(configPath) : {};
  const { sources, peerSources } = sourceSettings(file.sources, file.dicom?.peers);
  const dicomTls = dicomTlsSettings(file.dicom?.tls, e.STRATA_BIND_HOST, e.STRATA_DICOM_TLS_PORT);
  return {
    dataDir,
    configFile: configPath,
    policiesDir: resolve(e.STRATA_POLICIES_DIR),
    logLevel: e.STRATA_LOG_LEVEL,
    logFormat: e.STRATA_LOG_FORMAT,
    shutdownDrainMs: e.STRATA_SHUTDOWN_DRAIN_SECONDS * 1000,
    testFailpoint: e.STRATA_TEST_FAILPOINT ?? null,
    http: {
      host: e.STRATA_BIND_HOST,
      port: e.STRATA_HTTP_PORT,
      maxStowBytes: file.dicomweb?.maxStowBytes ?? 4 * 1024 * 1024 * 1024,
      trustProxy:
        e.STRATA_TRUST_PROXY?.split(',')
          .map((a) => a.trim())
          .filter((a) => a.length > 0) ?? [],
    },
    dicom: {
      host: e.STRATA_BIND_HOST,
      port: e.STRATA_DICOM_PORT,
      aeTitle: e.STRATA_AET.trim(),
      allowedCallingAets: (file.dicom?.allowedCallingAets ?? []).map((a) => a.trim()),
      retrieveArchived: file.dicom?.retrieveArchived ?? 'fail',
      archivedWaitMs: (file.dicom?.archivedWaitSeconds ?? 3600) * 1000,
      peers: Object.fromEntries(
        Object.entries(file.dicom?.peers ?? {}).map(([ae, p]) => [
          ae.trim(),
          {
            aeTitle: ae.trim(),
            host: p.host,
            port: p.port,
            source: p.source ?? peerSources[ae.trim()] ?? ae.trim(),
            allow: p.allow ? [...new Set(p.allow)] : [...DICOM_OPERATIONS],
            tls: peerTlsSettings(ae.trim(), p.tls, dicomTls),
          },
        ]),
      ),
      unknownPeerAllow: file.dicom?.unknownPeers
        ? [...new Set(file.dicom.unknownPeers.allow)]
        : [...DICOM_OPERATIONS],
      extraStorageSopClasses: file.dicom?.extraStorageSopClasses ?? [],
      checkCalledAet: file.dicom?.checkCalledAet ?? false,
      maxPduLength: file.dicom?.maxPduLength ?? 1024 * 1024,
      idleTimeoutMs: (file.dicom?.idleTimeoutSeconds ?? 120) * 1000,
      tls: dicomTls,
    },
    database: { url: e.DATABASE_URL ?? null, embeddedDir: resolve(dataDir, 'pg') },
    ingest: {
      maxHeaderBytes: file.ingest?.maxHeaderBytes ?? 16 * 1024 * 1024,
      parseTimeoutMs: file.ingest?.parseTimeoutMs ?? 5000,
      parserWorkers: file.ingest?.parserWorkers ?? 1,
      inlineParseMaxBytes: file.ingest?.inlineParseMaxBytes ?? 65536,
      tempDir: resolve(dataDir, 'tmp'),
    },
    limits: {
      maxAssociations: file.limits?.maxAssociations ?? 64,
      maxStowRequests: file.limits?.maxStowRequests ?? 16,
      maxInFlightBytes: (file.limits?.maxInFlightMiB ?? 512) * 1024 * 1024,
      retryAfterSeconds: file.limits?.retryAfterSeconds ?? 5,
    },
    keys: {
      dir: resolve(dataDir, 'keys'),
      privateKeyFile: file.keys?.privateKeyFile ? resolve(file.keys.privateKeyFile) : null,
      extraRecipientFiles: (file.keys?.extraRecipientFiles ?? []).map((f) => resolve(f)),
      passphrase: e.STRATA_KEY_PASSPHRASE ?? null,
    },
    auth: { adminToken: e.STRATA_ADMIN_TOKEN ?? null },
    audit: {
      checkpointEvery: {
        rows: file.audit?.checkpointEvery?.rows ?? 10_000,
        minutes: file.audit?.checkpointEvery?.minutes ?? 5,
      },
      syslog: syslogSettings(file.audit?.syslog),
    },
    fixity: fixitySettings(file.fixity),
    jobs: { leaseMs: (file.jobs?.leaseSeconds ?? 60) * 1000 },
    lifecycle: lifecycleSettings(file.lifecycle, e.STRATA_TEST_NOW),
    storage: {
      ...storageLayout(file.storage, dataDir),
      orphanGraceMs: (file.storage?.orphanGraceSeconds ?? (e.DATABASE_URL ? 900 : 0)) * 1000,
    },
    sources,
  };
}

/** Weekly (Sunday 03:00), every location except the cold tier's, unless the file says otherwise. */
function fixitySettings(f: ConfigFile['fixity']): StrataConfig['fixity'] {
  const schedule = f?.schedule ?? '0 3 * * 0';
  if (schedule !== 'off' && !cron.validate(schedule)) {
    throw new ConfigError(`config file: fixity.schedule: '${schedule}' is not a cron expression`);
  }
  return {
    schedule: schedule === 'off' ? null : schedule,
    samplePercent: f?.samplePercent ?? 100,
    includeCold: f?.includeCold ?? false,
  };
}

const DEFAULT_SCHEDULES: Record<SweepName, string> = {
  // Nightly, one after the other: expiries first, then moves, then purges.
  retention: '0 1 * * *',
  tiering: '30 1 * * *',
  purge: '0 2 * * *',
};

function lifecycleSettings(
  f: ConfigFile['lifecycle'],
  testNow: string | undefined,
): StrataConfig['lifecycle'] {
  const schedules = {} as Record<SweepName, string | null>;
  const windows = {} as Record<SweepName, { from: number; to: number } | null>;
  for (const name of SWEEP_NAMES) {
    const schedule = f?.schedules?.[name] ?? DEFAULT_SCHEDULES[name];
    if (schedule !== 'off' && !cron.validate(schedule)) {
      throw new ConfigError(
        `config file: lifecycle.schedules.${name}: '${schedule}' is not a cron expression`,
      );
    }
    schedules[name] = schedule === 'off' ? null : schedule;
    windows[name] = parseTimeWindow(`lifecycle.windows.${name}`, f?.windows?.[name]);
  }
  return {
    schedules,
    windows,
    batchSize: f?.batchSize ?? 500,
    maxActionsPerSecond: f?.maxActionsPerSecond ?? 50,
    testNow: testNow ? new Date(testNow) : null,
  };
}

/**
 * Backends and tiers. Without `storage.backends`, each tier is a folder under the data dir
 * (backends 'local', 'local-warm', 'local-cold'); with it, `storage.tiers` says where each tier
 * goes, warm and cold defaulting to the hot tier's backend.
 */
function storageLayout(
  storage: ConfigFile['storage'],
  dataDir: string,
): Pick<StrataConfig['storage'], 'backends' | 'tiers'> {
  const backends: Record<string, BackendConfig> = {};
  if (!storage?.backends) {
    backends.local = { type: 'filesystem', path: resolve(dataDir, 'objects', 'hot') };
    backends['local-warm'] = { type: 'filesystem', path: resolve(dataDir, 'objects', 'warm') };
    backends['local-cold'] = { type: 'filesystem', path: resolve(dataDir, 'objects', 'cold') };
  } else {
    if (!storage.tiers) {
      throw new ConfigError('config file: storage.tiers: required when storage.backends is set');
    }
    for (const [id, b] of Object.entries(storage.backends)) {
      backends[id] =
        b.type === 'filesystem'
          ? { type: 'filesystem', path: resolve(b.path) }
          : {
              type: 's3',
              bucket: b.bucket,
              prefix: b.prefix ? b.prefix.replace(/\/*$/, '/') : '',
              region: b.region ?? 'us-east-1',
              endpoint: b.endpoint ?? null,
              forcePathStyle: b.forcePathStyle ?? false,
              credentials:
                b.accessKeyId && b.secretAccessKey
                  ? {
                      accessKeyId: b.accessKeyId,
                      secretAccessKey: b.secretAccessKey,
                      ...(b.sessionToken ? { sessionToken: b.sessionToken } : {}),
                    }
                  : null,
              profile: b.profile ?? null,
              connectTimeoutMs: b.connectTimeoutMs ?? 5_000,
              requestTimeoutMs: b.requestTimeoutMs ?? 120_000,
              maxAttempts: b.maxAttempts ?? 5,
              partSizeBytes: (b.partSizeMiB ?? 16) * 1024 * 1024,
              checksums: b.checksums ?? (b.endpoint ? 'when-required' : 'when-supported'),
              simulateRestoreSeconds: b.simulateRestoreSeconds ?? null,
            };
    }
  }
  const given = storage?.tiers;
  const tier = (name: TierName, fallback: string): TierConfig => {
    const t = given?.[name];
    const backend = t?.backend ?? fallback;
    if (!(backend in backends)) {
      throw new ConfigError(
        `config file: storage.tiers.${name}.backend: '${backend}' is not one of storage.backends (${Object.keys(backends).join(', ')})`,
      );
    }
    return { backend, storageClass: t?.storageClass ?? null, restore: t?.restore ?? null };
  };
  const hot = tier('hot', 'local');
  return {
    backends,
    tiers: {
      hot,
      warm: tier('warm', storage?.backends ? hot.backend : 'local-warm'),
      cold: tier('cold', storage?.backends ? hot.backend : 'local-cold'),
    },
  };
}
