import { type StrataConfig } from '../config/index.js';
import { Counter, DURATION_BUCKETS_SECONDS, Histogram, Registry } from '../metrics/index.js';
import { type IngestRequest, type IngestResult } from './ingest-request.js';

/** Outcome label of an instance that no result describes (the pipeline itself threw). */
type Outcome = (IngestResult & { ok: true })['outcome'] | 'refused' | 'error';

/**
 * Ingest as Prometheus sees it: instances by adapter, source and outcome, bytes received, the
 * time one instance takes through the pipeline, and refusals by reason. Labels are bounded: the
 * adapter ids are code, the source is a configured source or peer name ('unconfigured' for any
 * other calling AE or token source, 'none' when there is none), never a UID or a patient.
 * Children are cached per label set: one map lookup per instance, no SQL.
 */
export class IngestMetrics {
  private readonly instances: Counter<'adapter' | 'source' | 'outcome'>;
  private readonly bytes: Counter<'adapter' | 'source'>;
  private readonly duration: Histogram<'adapter'>;
  private readonly refusals: Counter<'adapter' | 'reason'>;
  private readonly known: Set<string>;
  private readonly children = new Map<string, { inc(n?: number): void }>();
  private readonly timers = new Map<string, { observe(v: number): void }>();

  /** Without a registry (the CLI's import), counts go to a private one nobody reads. */
  constructor(config: StrataConfig, registry: Registry | null) {
    const registers = [registry ?? new Registry()];
    this.known = new Set([
      ...Object.keys(config.sources),
      ...Object.keys(config.dicom.peers),
      ...Object.values(config.dicom.peers).flatMap((p) => (p.source ? [p.source] : [])),
    ]);
    this.instances = new Counter({
      name: 'strata_ingest_instances_total',
      help: 'Instances received by the ingestion pipeline, by adapter, source and outcome (stored, new-version, duplicate, kept-first, refused, error)',
      labelNames: ['adapter', 'source', 'outcome'],
      registers,
    });
    this.bytes = new Counter({
      name: 'strata_ingest_bytes_total',
      help: 'Bytes of the data sets accepted (stored, versioned or duplicate), by adapter and source',
      labelNames: ['adapter', 'source'],
      registers,
    });
    this.duration = new Histogram({
      name: 'strata_ingest_duration_seconds',
      help: 'Time from the first byte of an instance to its answer (durable and catalogued, or refused), by adapter',
      labelNames: ['adapter'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.refusals = new Counter({
      name: 'strata_ingest_refusals_total',
      help: 'Instances refused by the ingestion pipeline, by adapter and reason',
      labelNames: ['adapter', 'reason'],
      registers,
    });
  }

  /** Records one instance's result and the seconds it took (result null: the pipeline threw). */
  observe(req: IngestRequest, result: IngestResult | null, seconds: number): void {
    const source = this.sourceLabel(req.source);
    const outcome: Outcome = result === null ? 'error' : result.ok ? result.outcome : 'refused';
    this.counter(this.instances, req.adapter, source, outcome).inc();
    if (result?.ok) this.counter(this.bytes, req.adapter, source).inc(result.bytes);
    if (result && !result.ok) this.counter(this.refusals, req.adapter, result.reason).inc();
    let timer = this.timers.get(req.adapter);
    if (!timer) {
      timer = this.duration.labels(req.adapter);
      this.timers.set(req.adapter, timer);
    }
    timer.observe(seconds);
  }

  /** An instance refused by its adapter before the pipeline (a peer not allowed to store). */
  refusedByAdapter(adapter: string, reason: string): void {
    this.counter(this.refusals, adapter, reason).inc();
  }

  private sourceLabel(source: string | null): string {
    if (source === null) return 'none';
    return this.known.has(source) ? source : 'unconfigured';
  }

  private counter(metric: Counter<string>, ...values: string[]): { inc(n?: number): void } {
    const key = `${metric === this.instances ? 'i' : metric === this.bytes ? 'b' : 'r'}\0${values.join('\0')}`;
    let child = this.children.get(key);
    if (!child) {
      child = metric.labels(...values);
      this.children.set(key, child);
    }
    return child;
  }
}
