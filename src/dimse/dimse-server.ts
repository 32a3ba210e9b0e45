// DimseServer: owns a net.Server, creates one Association per connection, enforces server-wide
// limits and performs graceful shutdown. All DICOM protocol work lives in association.ts.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Association, type AssociationConfig } from './association.js';
import { type AssociationDecision, type DimseLogger, type DimseServerOptions } from './types.js';

/** 1 MiB PDUs: few PDU/PDV headers per instance and big socket writes from the SCU, while a
 *  single association still buffers only about one PDU's worth. */
export const DEFAULT_MAX_PDU_LENGTH = 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_ARTIM_TIMEOUT_MS = 30_000;
export const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** Smallest max PDU we announce; PS3.8 leaves it open, but tiny PDUs only cost throughput. */
const MIN_MAX_PDU_LENGTH = 4096;
/** After the grace period, how long aborted peers get to close before we cut the sockets. */
const FORCE_CLOSE_MS = 1_000;

const silentLogger: DimseLogger = { log: () => {}, warn: () => {}, error: () => {} };

export class DimseServer {
  private readonly server: Server;
  private readonly associations = new Set<Association>();
  private readonly config: AssociationConfig;
  private readonly maxAssociations: number;
  private closing: Promise<void> | null = null;
  private listening = false;

  constructor(private readonly opts: DimseServerOptions) {
    const maxPduLength = opts.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    if (
      !Number.isInteger(maxPduLength) ||
      maxPduLength < MIN_MAX_PDU_LENGTH ||
      maxPduLength > 0xffffffff
    ) {
      throw new RangeError(
        `maxPduLength must be an integer between ${MIN_MAX_PDU_LENGTH} and 2^32-1`,
      );
    }
    if (opts.aeTitle.trim().length === 0 || opts.aeTitle.length > 16) {
      throw new RangeError('aeTitle must be 1 to 16 characters');
    }
    this.maxAssociations = opts.maxAssociations ?? Infinity;
    this.config = {
      aeTitle: opts.aeTitle,
      maxPduLength,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      artimTimeoutMs: opts.artimTimeoutMs ?? DEFAULT_ARTIM_TIMEOUT_MS,
      // Buffer about one PDU per association before pausing the socket.
      streamHighWaterMark: Math.min(maxPduLength, 4 * 1024 * 1024),
      handlers: opts.handlers,
      logger: opts.logger ?? silentLogger,
      admit: () => this.admit(),
    };
    this.server = createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.server.on('error', (err) =>
      this.config.logger.error(`DIMSE server error: ${err.message}`),
    );
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        this.server.off('error', onError);
        this.listening = true;
        const port = (this.server.address() as AddressInfo).port;
        this.config.logger.log(
          `DIMSE SCP ${this.opts.aeTitle} listening on ${this.opts.host}:${port}`,
        );
        resolve(port);
      });
    });
  }

  /** Number of open connections (associations and connections still negotiating). */
  get activeAssociations(): number {
    return this.associations.size;
  }

  /**
   * Stops accepting connections, lets operations in flight finish for up to graceMs (each
   * association is aborted as soon as it is between operations), then aborts the rest.
   */
  close(graceMs: number = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const serverClosed = this.listening
      ? new Promise<void>((resolve) => this.server.close(() => resolve()))
      : Promise.resolve();
    for (const a of this.associations) a.shutdown();
    if (!(await this.allClosedWithin(graceMs))) {
      for (const a of this.associations) a.forceAbort();
      if (!(await this.allClosedWithin(FORCE_CLOSE_MS))) {
        for (const a of this.associations) a.destroy();
      }
    }
    await serverClosed;
    this.listening = false;
  }

  private async allClosedWithin(ms: number): Promise<boolean> {
    if (this.associations.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const all = Promise.all([...this.associations].map((a) => a.closed)).then(() => true as const);
    const done = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return done;
  }

  private onConnection(socket: Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    const association = new Association(socket, this.config);
    this.associations.add(association);
    void association.closed.then(() => this.associations.delete(association));
  }

  private admit(): AssociationDecision | undefined {
    if (this.closing !== null) {
      return { accept: false, result: 2, source: 3, reason: 1, logReason: 'server shutting down' };
    }
    let associated = 0;
    for (const a of this.associations) if (a.isAssociated) associated++;
    // The association asking is already counted as negotiating.
    if (associated > this.maxAssociations) {
      return { accept: false, result: 2, source: 3, reason: 2, logReason: 'too many associations' };
    }
    return undefined;
  }
}
