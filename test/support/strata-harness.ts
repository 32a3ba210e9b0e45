import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig, type StrataConfig } from '../../src/config/index.js';
import { type RunningStrata, startStrata } from '../../src/strata.js';
import { createTestDatabase } from './test-database.js';

export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestStrata {
  running: RunningStrata;
  config: StrataConfig;
  dataDir: string;
  databaseUrl: string;
  httpUrl: string;
  dicomPort: number;
  /** Authorization header value for the admin token. */
  auth: string;
  stop(): Promise<void>;
  /** Stops, keeps the data dir and database, and starts again (for restart tests). */
  restart(): Promise<TestStrata>;
}

export interface TestStrataOptions {
  env?: Record<string, string>;
  /** YAML text for the config file. */
  configYaml?: string;
  /** Files to put in the policies dir: name (may include a folder) → YAML text. */
  policies?: Record<string, string>;
  databaseUrl?: string;
  dataDir?: string;
}

/** Environment for a Strata on loopback, ports picked by the OS, its own database and data dir. */
export function testEnv(
  dataDir: string,
  databaseUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    STRATA_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    STRATA_HTTP_PORT: '0',
    STRATA_DICOM_PORT: '0',
    STRATA_BIND_HOST: '127.0.0.1',
    STRATA_ADMIN_TOKEN: TEST_TOKEN,
    STRATA_KEY_PASSPHRASE: 'test-passphrase-123',
    STRATA_POLICIES_DIR: join(dataDir, 'policies'),
    STRATA_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Starts the real Strata (Nest app, DIMSE listener, real PostgreSQL) for an end-to-end test. */
export async function startTestStrata(options: TestStrataOptions = {}): Promise<TestStrata> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'strata-test-'));
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase());
  mkdirSync(join(dataDir, 'policies'), { recursive: true });
  for (const [name, text] of Object.entries(options.policies ?? {})) {
    // A name may hold a folder: 'profiles/acme.yaml'.
    mkdirSync(dirname(join(dataDir, 'policies', name)), { recursive: true });
    writeFileSync(join(dataDir, 'policies', name), text);
  }
  const env = testEnv(dataDir, databaseUrl, options.env);
  if (options.configYaml) {
    writeFileSync(join(dataDir, 'strata.config.yaml'), options.configYaml);
    env.STRATA_CONFIG = join(dataDir, 'strata.config.yaml');
  }
  const config = loadConfig(env);
  const running = await startStrata(config);
  const self: TestStrata = {
    running,
    config,
    dataDir,
    databaseUrl,
    httpUrl: running.httpUrl,
    dicomPort: running.dicomPort,
    auth: `Bearer ${TEST_TOKEN}`,
    stop: () => running.close(),
    restart: async () => {
      await running.close();
      return startTestStrata({ ...options, dataDir, databaseUrl });
    },
  };
  return self;
}

/**
 * A data dir for another node of `first`'s catalog: with its dedup secret (every node of one
 * catalog shares it; a node with another one refuses to start).
 */
export function secondNodeDataDir(first: { dataDir: string }): string {
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-test-'));
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  copyFileSync(join(first.dataDir, 'keys', 'dedup.secret'), join(dataDir, 'keys', 'dedup.secret'));
  return dataDir;
}

/** Removes a test's data dir (call after stop). */
export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
