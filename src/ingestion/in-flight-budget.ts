/**
 * The in-flight budget (limits.maxInFlightMiB): the bytes of the instances the pipeline is
 * receiving and has not yet stored, across every adapter. IngestionService.ingest charges each
 * instance with the bytes it has read so far and gives them back once the instance is stored
 * (catalog committed) or refused.
 *
 * The budget gates admission only. Push adapters ask `exhausted` before they take new work (a
 * new association, a new STOW-RS request) and refuse it as transient while it is spent; work
 * already admitted goes on, and an instance in progress is never cut off by the budget, since that
 * would break the promise that what a peer was allowed to start is finished or cleanly refused. So
 * the total may overshoot the limit by the instances in progress when it was reached, which the
 * association and STOW-RS limits bound in number (each of them carries one instance at a time).
 *
 * What it bounds is the archive's unfinished work: the header captures and stream buffers in
 * memory (small per instance) and the staged objects on the hot tier not yet in the catalog.
 */
export class InFlightBudget {
  private bytes = 0;
  private instances = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) {
      throw new RangeError('the in-flight budget must be a positive number of bytes');
    }
  }

  get inFlightBytes(): number {
    return this.bytes;
  }

  /** Instances being received or stored right now. */
  get inFlightInstances(): number {
    return this.instances;
  }

  /** Whether new work should be refused (as transient): the budget is spent. */
  get exhausted(): boolean {
    return this.bytes >= this.limitBytes;
  }

  /** For refusal messages: what is in flight against the limit. */
  describe(): string {
    const mib = (n: number) => (n / 1048576).toFixed(0);
    return `${mib(this.bytes)} MiB in flight (limits.maxInFlightMiB: ${mib(this.limitBytes)})`;
  }

  /** Opens the charge of one instance; release it (once) when the instance is stored or refused. */
  open(): InFlightCharge {
    this.instances++;
    let charged = 0;
    let open = true;
    return {
      meter: (it) => ({
        next: async () => {
          const next = await it.next();
          if (!next.done && open) {
            charged += next.value.length;
            this.bytes += next.value.length;
          }
          return next;
        },
      }),
      release: () => {
        if (!open) return;
        open = false;
        this.bytes -= charged;
        this.instances--;
      },
    };
  }
}

export interface InFlightCharge {
  /** The same chunks as `it`, each charged to the budget as it is read. */
  meter(it: AsyncIterator<Buffer>): AsyncIterator<Buffer>;
  /** Gives the instance's bytes back; later calls do nothing. */
  release(): void;
}
