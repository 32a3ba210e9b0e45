// DimseServer: owns a net.Server (or, for DICOM over TLS, a tls.Server), creates one Association
// per connection, enforces server-wide limits and performs graceful shutdown. All DICOM protocol
// work lives in association.ts.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Association, type AssociationConfig } from './association.js';
import { printable } from './log-text.js';
import { serverTlsOptions } from './tls.js';
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
  /** TLS only: the TCP connections under the TLS sockets, so that shutdown can cut those whose
   *  handshake is not over (they have no Association) without waiting for their timeout. */
  private readonly tlsConnections = new Set<Socket>();

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
    this.server = opts.tls
      ? this.createTlsServer()
      : createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.server.on('error', (err) =>
      this.config.logger.error(`DIMSE server error: ${err.message}`),
    );
  }

  /** Whether this server speaks DICOM over TLS. */
  get isTls(): boolean {
    return this.opts.tls !== undefined;
  }

  /**
   * A tls.Server: an Association starts once the handshake is over. A failed handshake (no
   * acceptable protocol or cipher, a client certificate missing or not trusted, a plain DICOM
   * client) only closes that connection, with a warning naming the peer and the TLS error.
   */
  private createTlsServer(): Server {
    const server = createTlsServer(
      {
        ...serverTlsOptions(this.opts.tls!),
        noDelay: true,
        // A connection gets ARTIM to finish its handshake, as it gets ARTIM for its A-ASSOCIATE-RQ.
        handshakeTimeout: this.config.artimTimeoutMs,
      },
      (socket: TLSSocket) => this.onConnection(socket),
    );
    const peers = new WeakMap<Socket, string>();
    server.on('connection', (raw: Socket) => {
      peers.set(raw, `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}`);
      this.tlsConnections.add(raw);
      raw.once('close', () => this.tlsConnections.delete(raw));
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const raw = (socket as unknown as { _parent?: Socket })._parent;
      const peer =
        (raw && peers.get(raw)) ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      // Node refuses an untrusted client certificate by closing the connection once the
      // handshake is over: the reason is then on the socket, not in the error.
      const refused = (socket as { authorizationError?: unknown }).authorizationError;
      if (refused) {
        const why = typeof refused === 'string' ? refused : tlsErrorText(refused as Error);
        this.config.logger.warn(
          `DIMSE TLS handshake with ${peer} failed: client certificate not accepted (${printable(why)})`,
        );
        return;
      }
      const line = `DIMSE TLS handshake with ${peer} failed: ${tlsErrorText(err)}`;
      // Connections closed before the handshake is over: port probes and TCP health checks.
      if (err.code === 'ECONNRESET') this.config.logger.debug?.(line);
      else this.config.logger.warn(line);
    });
    return server;
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
          `DIMSE SCP ${this.opts.aeTitle} listening on ${this.opts.host}:${port}${this.isTls ? ' (TLS)' : ''}`,
        );
        resolve(port);
      });
    });
  }

  /**
   * TLS mode: reads the certificate, key and CA files again and uses them for the handshakes
   * from now on (a renewed certificate without a restart); connections already made keep theirs.
   * Throws, leaving the files in use unchanged, when they cannot be read.
   */
  reloadTls(): void {
    if (!this.opts.tls) throw new Error('this listener does not speak TLS');
    const {
      requestCert: _request,
      rejectUnauthorized: _reject,
      ...context
    } = serverTlsOptions(this.opts.tls);
    (this.server as import('node:tls').Server).setSecureContext(context);
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
    // What is still connected has no association: TLS handshakes not over. Cut them now, not at
    // their handshake timeout.
    for (const raw of this.tlsConnections) raw.destroy();
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

/** An OpenSSL error's code and reason ('ERR_SSL_NO_SHARED_CIPHER: no shared cipher'), without
 *  its source-file location; other errors' code and message. */
function tlsErrorText(err: Error & { code?: string; reason?: string }): string {
  const what = printable(err.reason ?? err.message);
  return err.code ? `${err.code}: ${what}` : what;
}
