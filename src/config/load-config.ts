import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { type ZodError } from 'zod';
import { configFileSchema, envSchema, type ConfigFile } from './config.schema.js';
import { type StrataConfig } from './strata-config.js';

/** Thrown for any invalid setting; the message names the variable or key and why. */
export class ConfigError extends Error {}

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
  return {
    dataDir,
    configFile: configPath,
    policiesDir: resolve(e.STRATA_POLICIES_DIR),
    logLevel: e.STRATA_LOG_LEVEL,
    http: {
      host: e.STRATA_BIND_HOST,
      port: e.STRATA_HTTP_PORT,
      maxStowBytes: file.dicomweb?.maxStowBytes ?? 4 * 1024 * 1024 * 1024,
    },
    dicom: {
      host: e.STRATA_BIND_HOST,
      port: e.STRATA_DICOM_PORT,
      aeTitle: e.STRATA_AET.trim(),
      allowedCallingAets: (file.dicom?.allowedCallingAets ?? []).map((a) => a.trim()),
      extraStorageSopClasses: file.dicom?.extraStorageSopClasses ?? [],
      checkCalledAet: file.dicom?.checkCalledAet ?? false,
      maxPduLength: file.dicom?.maxPduLength ?? 1024 * 1024,
      idleTimeoutMs: (file.dicom?.idleTimeoutSeconds ?? 120) * 1000,
    },
    database: { url: e.DATABASE_URL ?? null, embeddedDir: resolve(dataDir, 'pg') },
    ingest: {
      maxHeaderBytes: file.ingest?.maxHeaderBytes ?? 16 * 1024 * 1024,
      parseTimeoutMs: file.ingest?.parseTimeoutMs ?? 5000,
      parserWorkers: file.ingest?.parserWorkers ?? 1,
      inlineParseMaxBytes: file.ingest?.inlineParseMaxBytes ?? 65536,
      tempDir: resolve(dataDir, 'tmp'),
    },
    keys: {
      dir: resolve(dataDir, 'keys'),
      privateKeyFile: file.keys?.privateKeyFile ? resolve(file.keys.privateKeyFile) : null,
      extraRecipientFiles: (file.keys?.extraRecipientFiles ?? []).map((f) => resolve(f)),
      passphrase: e.STRATA_KEY_PASSPHRASE ?? null,
    },
    auth: { adminToken: e.STRATA_ADMIN_TOKEN ?? null },
    storage: {
      hotDir: resolve(dataDir, 'objects', 'hot'),
      orphanGraceMs: (file.storage?.orphanGraceSeconds ?? (e.DATABASE_URL ? 900 : 0)) * 1000,
    },
  };
}
