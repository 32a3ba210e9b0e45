import { type IngestResult } from '../ingest-request.js';
import { type AdapterStatus, type IngestCounters, type SourceStatus } from './adapter.js';

export function emptyCounters(): IngestCounters {
  return {
    received: 0,
    stored: 0,
    newVersions: 0,
    duplicates: 0,
    refused: 0,
    bytes: 0,
    lastActivityAt: null,
  };
}

/** An ingest outcome, or 'refused' (by the pipeline, or by an adapter before it). */
export type CountedOutcome = 'stored' | 'new-version' | 'duplicate' | 'kept-first' | 'refused';

function add(c: IngestCounters, outcome: CountedOutcome, bytes: number, at: string): void {
  c.received++;
  c.lastActivityAt = at;
  if (outcome === 'refused') c.refused++;
  else if (outcome === 'stored') c.stored++;
  else if (outcome === 'new-version') c.newVersions++;
  else c.duplicates++;
  if (outcome !== 'refused') c.bytes += bytes;
}

/**
 * An adapter's running state and counters, overall and by source, kept in memory (since this
 * process started: the catalog and the ledger hold the lasting record). Every adapter holds one,
 * so that status() means the same for all of them.
 */
export class AdapterActivity {
  private running = false;
  private startedAt: string | null = null;
  private readonly totals = emptyCounters();
  private readonly bySource = new Map<string, IngestCounters>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  get isRunning(): boolean {
    return this.running;
  }

  started(): void {
    this.running = true;
    this.startedAt = this.now().toISOString();
  }

  stopped(): void {
    this.running = false;
  }

  /** Counts one pipeline result under the source it was recorded for. */
  count(source: string, result: IngestResult): void {
    this.tally(source, result.ok ? result.outcome : 'refused', result.ok ? result.bytes : 0);
  }

  /** Counts one instance (or one file an adapter refused before the pipeline saw it). */
  tally(source: string, outcome: CountedOutcome, bytes: number): void {
    const at = this.now().toISOString();
    add(this.totals, outcome, bytes, at);
    let c = this.bySource.get(source);
    if (!c) this.bySource.set(source, (c = emptyCounters()));
    add(c, outcome, bytes, at);
  }

  /** The status, listing `configured` sources (with `detail` of each, if given) and any seen. */
  status(
    configured: readonly string[] = [],
    detail: (source: string) => Omit<SourceStatus, 'counters'> = () => ({}),
  ): AdapterStatus {
    const sources: Record<string, SourceStatus> = {};
    for (const name of new Set([...configured, ...this.bySource.keys()])) {
      sources[name] = {
        counters: { ...(this.bySource.get(name) ?? emptyCounters()) },
        ...detail(name),
      };
    }
    return {
      running: this.running,
      startedAt: this.startedAt,
      counters: { ...this.totals },
      sources,
    };
  }
}
