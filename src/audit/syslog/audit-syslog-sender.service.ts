import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig, type SyslogConfig } from '../../config/index.js';
import { type AuditRow } from '../audit-event.js';
import { auditSourceOf } from '../formats/index.js';
import { auditSyslogFrame } from './audit-syslog-message.js';
import { type Pseudonymizer } from './pseudonymize.js';
import { PseudonymKeyRepository } from './pseudonym-key.repository.js';
import { type SyslogSpool, SyslogSpoolRepository } from './syslog-spool.repository.js';
import { SyslogTransport } from './syslog-transport.repository.js';

/** Timings; tests shorten them. */
export interface SyslogTimings {
  /** How often the trail is looked at for new rows once everything is delivered. */
  pollMs: number;
  /** How often a node that is not the sender tries to become it. */
  standbyMs: number;
  /** First back-off after a failed delivery; doubled at each failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** How long a graceful stop waits for the batch in flight to be confirmed. */
  stopGraceMs: number;
}

export const SYSLOG_TIMINGS = Symbol('SYSLOG_TIMINGS');

export const DEFAULT_SYSLOG_TIMINGS: SyslogTimings = {
  pollMs: 500,
  standbyMs: 5_000,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  stopGraceMs: 20_000,
};

/**
 * Delivers every audit row to the syslog collector (`audit.syslog`), in chain order, from the
 * durable spool: the rows after the destination's cursor are sent in batches, one connection per
 * batch, and the cursor moves past a batch only once the collector confirmed it (it closed the
 * connection after reading to the end: SyslogConnection.confirm). A batch that fails (collector
 * down, reset, timeout) is sent again after a back-off (doubling, capped), as long as it takes; the
 * rows that accumulate meanwhile are in audit_events already, so nothing waits in memory and a
 * restart of Strata loses nothing.
 *
 * What is guaranteed (see README, "Audit to syslog"):
 * - at least once: a row is sent again until a batch containing it is confirmed;
 * - exactly once when the collector stops or restarts between batches, and across a graceful stop
 *   of Strata (the batch in flight is finished and confirmed before the cursor is saved);
 * - duplicates only for the batch in flight when a connection breaks (collector crash or reset,
 *   network failure) or Strata is killed, at most `batch` messages, each with the same
 *   [strata@32473 seq] and the same bytes, so the collector can drop them;
 * - one sender per destination in the cluster (an advisory lock); a node that dies releases it
 *   and another takes over from the saved cursor.
 */
@Injectable()
export class AuditSyslogSender implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AuditSyslog');
  private readonly settings: SyslogConfig | null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private pseudonymizer: Pseudonymizer | null = null;
  /** Consecutive failed deliveries (0: the collector is reachable). */
  private failures = 0;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly spool: SyslogSpoolRepository,
    private readonly transport: SyslogTransport,
    private readonly pseudonymKeys: PseudonymKeyRepository,
    @Inject(SYSLOG_TIMINGS) private readonly timings: SyslogTimings,
  ) {
    this.settings = config.audit.syslog;
  }

  onApplicationBootstrap(): void {
    if (!this.settings) return;
    this.logger.log(
      `sending the audit trail to ${this.transport.destination}` +
        (this.settings.pseudonymize ? ' (patient identifiers pseudonymised)' : ''),
    );
    this.running = this.run();
  }

  /** A graceful stop: the batch in flight is confirmed and saved, the lock released. */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.running,
      new Promise((done) => (timer = setTimeout(done, this.timings.stopGraceMs))),
    ]).finally(() => clearTimeout(timer));
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let leading = false;
      try {
        leading =
          (await this.spool.whileHolding(this.transport.destination, (spool) =>
            this.lead(spool),
          )) !== null;
      } catch (error) {
        this.logger.warn(`audit syslog sender: ${message(error)}; trying again`);
      }
      if (!this.stopping)
        await this.pause(leading ? this.timings.backoffMs : this.timings.standbyMs);
    }
  }

  /** While this node holds the destination's lock: deliver, batch after batch, for ever. */
  private async lead(spool: SyslogSpool): Promise<true> {
    if (this.settings!.pseudonymize && !this.pseudonymizer) {
      this.pseudonymizer = await this.pseudonymKeys.pseudonymizer();
    }
    let cursor = await spool.delivered();
    while (!this.stopping) {
      const rows = await spool.rowsAfter(cursor, this.settings!.batch);
      if (rows.length === 0) {
        await this.pause(this.timings.pollMs);
        continue;
      }
      const last = rows.at(-1)!.seq;
      try {
        await this.deliver(rows);
      } catch (error) {
        this.failed(error, rows[0]!.seq);
        await this.pause(this.backoff());
        continue;
      }
      if (!(await spool.advance(cursor, last))) {
        throw new Error('the delivery cursor moved under this sender (another node sends now)');
      }
      if (this.failures > 0) {
        this.logger.log(`syslog collector ${this.transport.destination} reachable again`);
        this.failures = 0;
      }
      cursor = last;
    }
    return true;
  }

  private async deliver(rows: AuditRow[]): Promise<void> {
    const options = {
      source: auditSourceOf(this.config),
      hostname: hostname(),
      pseudonymize: this.pseudonymizer,
    };
    const frames = rows.map((r) => {
      try {
        return auditSyslogFrame(r, options);
      } catch (error) {
        // A row that cannot be rendered must not hold up the rows after it for ever: it goes
        // without its free-form detail (the only part not of a fixed shape), and is said to.
        this.logger.error(`audit row #${r.seq} rendered without its detail: ${message(error)}`);
        return auditSyslogFrame({ ...r, detail: null }, options);
      }
    });
    const connection = await this.transport.connect();
    try {
      await connection.send(frames);
      await connection.confirm();
    } catch (error) {
      connection.destroy();
      throw error;
    }
  }

  private failed(error: unknown, fromSeq: number): void {
    this.failures++;
    // Once per outage at warn level, then quietly: the back-off retries for as long as it takes.
    const text = `syslog collector ${this.transport.destination}: ${message(error)}; rows from #${fromSeq} wait in the trail, retrying`;
    if (this.failures === 1) this.logger.warn(text);
    else this.logger.debug(text);
  }

  private backoff(): number {
    const t = this.timings;
    return Math.min(t.maxBackoffMs, t.backoffMs * 2 ** Math.min(this.failures - 1, 30));
  }

  /** Waits, or less when stopping. */
  private pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((done) => {
      const timer = setTimeout(finish, ms);
      function finish() {
        clearTimeout(timer);
        done();
      }
      this.wake = () => {
        this.wake = null;
        finish();
      };
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
