import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { Counter, Gauge, type Registry } from '../metrics/index.js';
import { InFlightBudget } from './in-flight-budget.js';

/** Which limit turned work away (config file `limits`). */
export type OverloadLimit = 'associations' | 'stow-requests' | 'in-flight-bytes';

export interface OverloadRefusal {
  protocol: 'DIMSE' | 'STOW-RS';
  limit: OverloadLimit;
  /** Calling AE title, or the token's name. */
  actor: string;
  actorHost: string | null;
  /** For the log line: what the limit is and where it stands. */
  reason: string;
  /** DIMSE: the called AE title (kept in the audit row, as for other refused associations). */
  calledAet?: string;
}

/** At most one log line and one audit row per protocol and limit in this window. */
const REPORT_EVERY_MS = 60_000;

interface Window {
  startedAt: number;
  /** Refusals in this window not reported one by one. */
  quiet: number;
  last: OverloadRefusal;
}

/**
 * Refusals for overload, reported without flooding: a storm of refused associations or 503s is
 * the very moment the archive must not spend itself writing a log line and an audit row for each.
 * Every refusal is counted (strata_overload_refusals_total); per protocol and limit the first in a
 * minute is logged at warn and, for DICOM associations, audited as 'association.refused' (the
 * action every refused association has); the ones after it in that minute are only counted, and
 * the next report (or the one at shutdown) says how many there were (`refusedSinceLastReport`).
 * STOW-RS 503s are not audited: no data was accessed and the request was never admitted.
 */
export class OverloadRefusals implements OnApplicationShutdown {
  private readonly logger = new Logger('Overload');
  private readonly windows = new Map<string, Window>();
  private readonly counter: Counter<'protocol' | 'limit'> | null = null;

  /** Without a registry (the CLI's import) nothing is counted for Prometheus. */
  constructor(
    private readonly audit: AuditService,
    budget: InFlightBudget,
    registry: Registry | null,
    private readonly now: () => number = Date.now,
  ) {
    if (!registry) return;
    this.counter = new Counter({
      name: 'strata_overload_refusals_total',
      help: 'Associations and STOW-RS requests refused because a limit (config `limits`) was reached, by protocol and limit',
      labelNames: ['protocol', 'limit'],
      registers: [registry],
    });
    new Gauge({
      name: 'strata_ingest_in_flight_bytes',
      help: 'Bytes of instances being received and not yet stored, all adapters (limits.maxInFlightMiB)',
      registers: [registry],
      collect() {
        this.set(budget.inFlightBytes);
      },
    });
  }

  /** Counts a refusal; reports it unless one for the same reason was reported this minute. */
  async refused(r: OverloadRefusal): Promise<void> {
    this.counter?.inc({ protocol: r.protocol, limit: r.limit });
    const key = `${r.protocol}:${r.limit}`;
    const now = this.now();
    const window = this.windows.get(key);
    if (window && now - window.startedAt < REPORT_EVERY_MS) {
      window.quiet++;
      window.last = r;
      return;
    }
    this.windows.set(key, { startedAt: now, quiet: 0, last: r });
    await this.report(r, window?.quiet ?? 0);
  }

  /** The refusals of the last window that nobody reported yet. */
  async onApplicationShutdown(): Promise<void> {
    for (const window of this.windows.values()) {
      if (window.quiet > 0) await this.report(window.last, window.quiet, true);
    }
    this.windows.clear();
  }

  private async report(r: OverloadRefusal, quiet: number, summary = false): Promise<void> {
    const what = r.protocol === 'DIMSE' ? 'association' : 'STOW-RS request';
    const more = quiet > 0 ? ` (${quiet} more refused for this reason since the last report)` : '';
    this.logger.warn(
      summary
        ? `${quiet} more ${what}${quiet === 1 ? '' : 's'} refused since the last report (${r.reason})`
        : `refused ${what} from ${r.actor}@${r.actorHost ?? '?'}: ${r.reason}${more}; ` +
            `further refusals for this reason are only counted for ${REPORT_EVERY_MS / 1000} s`,
    );
    if (r.protocol !== 'DIMSE') return;
    await this.audit
      .recordAlone({
        actor: r.actor,
        actorHost: r.actorHost,
        action: 'association.refused',
        outcome: 'failure',
        detail: {
          ...(r.calledAet !== undefined ? { calledAet: r.calledAet } : {}),
          reason: r.reason,
          limit: r.limit,
          transient: true,
          refusedSinceLastReport: quiet,
        },
      })
      .catch((e: unknown) =>
        this.logger.error(`could not audit a refused association: ${String(e)}`),
      );
  }
}
