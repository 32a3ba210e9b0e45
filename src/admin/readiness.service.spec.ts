import { type ModuleRef } from '@nestjs/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Database } from '../database/index.js';
import { type BlobStore } from '../storage/index.js';
import { ReadinessService } from './readiness.service.js';

const MIGRATED = (async () => {
  const { migrations } = await import('../../migrations/index.js');
  return migrations.map((m) => ({ name: m.name }));
})();

function service(options: { db?: () => Promise<unknown[]>; listening?: boolean } = {}) {
  const db = {
    query: async (sql: string) =>
      options.db ? options.db() : sql.includes('migrations') ? MIGRATED : [{ '?column?': 1 }],
  } as unknown as Database;
  const blobs = {
    probeBackends: async () => [{ id: 'local', ok: true, detail: 'filesystem' }],
  } as unknown as BlobStore;
  const modules = {
    get: () => ({
      health: async () => ({ ok: options.listening ?? true, detail: 'STRATA listening on port 1' }),
    }),
  } as unknown as ModuleRef;
  return new ReadinessService(db, blobs, modules);
}

describe('ReadinessService', () => {
  afterEach(() => vi.useRealTimers());

  it('is ready when every check passes', async () => {
    const r = await service().check();
    expect(r.ready).toBe(true);
    expect(r.checks.find((c) => c.name === 'migrations')?.detail).toMatch(/migrations applied/);
  });

  it('is not ready once shutdown has begun, so a load balancer drains the node first', async () => {
    const s = service();
    s.beforeApplicationShutdown();
    const r = await s.check();
    expect(r.ready).toBe(false);
    expect(r.checks.find((c) => c.name === 'node')).toMatchObject({
      ok: false,
      detail: 'shutting down',
    });
  });

  it('is not ready when the DICOM listener is down', async () => {
    const r = await service({ listening: false }).check();
    expect(r.ready).toBe(false);
    expect(r.checks.find((c) => c.name === 'dicom')?.ok).toBe(false);
  });

  it('counts a database that does not answer as down after the check timeout', async () => {
    vi.useFakeTimers();
    const pending = service({ db: () => new Promise(() => undefined) }).check();
    await vi.advanceTimersByTimeAsync(3_100);
    const r = await pending;
    expect(r.ready).toBe(false);
    expect(r.checks.find((c) => c.name === 'database')?.detail).toMatch(/no answer within/);
  });
});
