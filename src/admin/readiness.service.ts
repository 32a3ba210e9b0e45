import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Database, schemaStatus } from '../database/index.js';
import { DimsePushService } from '../ingestion/index.js';
import { BlobStore } from '../storage/index.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface Readiness {
  ready: boolean;
  checks: ReadinessCheck[];
}

/** A check that has not answered in this time counts as failed: a load balancer waits for no one. */
const CHECK_TIMEOUT_MS = 3_000;

/**
 * Whether this node should be sent work: the database answers, its schema is the one this build
 * knows, every configured storage backend answers, the DICOM listener is up, and the node is not
 * shutting down (a load balancer stops sending before the listeners close).
 */
@Injectable()
export class ReadinessService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Readiness');
  private shuttingDown = false;
  private running: Promise<Readiness> | null = null;
  private readonly lastOk = new Map<string, boolean>();

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly modules: ModuleRef,
  ) {}

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  /** From now on not ready (a stop is coming): load balancers take the node out first. */
  markStopping(): void {
    this.shuttingDown = true;
  }

  /**
   * Runs the checks; concurrent callers share one run (a flood of probes costs one query per
   * check at a time). A check whose state changes is logged, with its detail when it fails.
   */
  check(): Promise<Readiness> {
    this.running ??= this.runChecks().finally(() => (this.running = null));
    return this.running;
  }

  private async runChecks(): Promise<Readiness> {
    const checks = await Promise.all([
      timed('database', async () => {
        await this.db.query('SELECT 1');
        return { ok: true, detail: 'reachable' };
      }),
      timed('migrations', () => schemaStatus(this.db)),
      timed('storage', async () => {
        const backends = await this.blobs.probeBackends();
        const failed = backends.filter((b) => !b.ok);
        return failed.length === 0
          ? { ok: true, detail: backends.map((b) => `${b.id}: ${b.detail}`).join(', ') }
          : { ok: false, detail: failed.map((b) => b.detail).join('; ') };
      }),
      timed('dicom', () => this.dicomListener()),
      timed('node', async () =>
        this.shuttingDown
          ? { ok: false, detail: 'shutting down' }
          : { ok: true, detail: 'running' },
      ),
    ]);
    for (const c of checks) {
      if (this.lastOk.get(c.name) === c.ok) continue;
      if (!c.ok) this.logger.warn(`not ready: ${c.name}: ${c.detail}`);
      else if (this.lastOk.has(c.name)) this.logger.log(`ready again: ${c.name}`);
      this.lastOk.set(c.name, c.ok);
    }
    return { ready: checks.every((c) => c.ok), checks };
  }

  private async dicomListener(): Promise<{ ok: boolean; detail: string }> {
    const listener = this.modules.get(DimsePushService, { strict: false });
    const { ok, detail } = await listener.health();
    return { ok, detail: detail ?? (ok ? 'listening' : 'not listening') };
  }
}

async function timed(
  name: string,
  check: () => Promise<{ ok: boolean; detail: string }>,
): Promise<ReadinessCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    const result = await Promise.race([
      check().catch((e: unknown) => ({ ok: false, detail: (e as Error).message ?? String(e) })),
      timeout,
    ]);
    return { name, ...result, ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}
