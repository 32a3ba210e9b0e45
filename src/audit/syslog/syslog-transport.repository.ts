import { readFileSync } from 'node:fs';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type SyslogConfig } from '../../config/index.js';

/** One connection to the collector, for one batch. */
export interface SyslogConnection {
  /** Writes the frames; resolves once the last is handed to the operating system. */
  send(frames: Buffer[]): Promise<void>;
  /**
   * Ends the stream and waits for the collector to close its side in answer: it has then read
   * every byte sent (it only sees the end after the data), so the batch is delivered. Rejects when
   * the collector reset the connection instead (it had not read everything), closed it before
   * being asked, or did not answer in time.
   */
  confirm(): Promise<void>;
  destroy(): void;
}

const CONNECT_TIMEOUT_MS = 10_000;
const CONFIRM_TIMEOUT_MS = 15_000;

/**
 * TCP and TLS connections to the syslog collector (RFC 6587, RFC 5425). Syslog has no
 * acknowledgement of its own; what stands for one is the orderly close: the sender half-closes
 * after a batch and the collector, reading on to the end of the stream, closes too. A collector
 * that stops while bytes are unread resets the connection, and that batch is sent again.
 */
export class SyslogTransport {
  /** `config`: audit.syslog (null: no collector configured, nothing to connect to). */
  constructor(private readonly config: SyslogConfig | null) {}

  /** 'tls://host:port' or 'tcp://host:port': the spool's name for this collector. */
  get destination(): string {
    const c = this.config;
    return c ? `${c.protocol}://${c.host}:${c.port}` : 'none';
  }

  connect(): Promise<SyslogConnection> {
    const c = this.config;
    if (!c) return Promise.reject(new Error('no syslog collector is configured'));
    return new Promise((resolve, reject) => {
      let socket: Socket;
      const ready = c.protocol === 'tls' ? 'secureConnect' : 'connect';
      try {
        socket =
          c.protocol === 'tls'
            ? tlsConnect({
                host: c.host,
                port: c.port,
                // Read at each connection: a renewed certificate is used without a restart.
                ca: c.caFile ? readFileSync(c.caFile) : undefined,
                cert: c.certFile ? readFileSync(c.certFile) : undefined,
                key: c.keyFile ? readFileSync(c.keyFile) : undefined,
                rejectUnauthorized: c.rejectUnauthorized,
                servername: isIP(c.host) ? undefined : c.host,
              })
            : tcpConnect({ host: c.host, port: c.port });
      } catch (error) {
        reject(error as Error);
        return;
      }
      const timer = setTimeout(() => {
        socket.destroy(
          new Error(`no connection to ${this.destination} within ${CONNECT_TIMEOUT_MS} ms`),
        );
      }, CONNECT_TIMEOUT_MS);
      const failed = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', failed);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.off('error', failed);
        socket.setNoDelay(true);
        resolve(new Connection(socket));
      });
    });
  }
}

class Connection implements SyslogConnection {
  private error: Error | null = null;
  private endAsked = false;
  /** The collector ended its side before it was asked to (it is going away). */
  private endedEarly = false;
  private ended = false;
  private readonly closed: Promise<boolean>;

  constructor(private readonly socket: Socket) {
    socket.on('error', (e) => (this.error ??= e));
    socket.on('end', () => {
      this.ended = true;
      if (!this.endAsked) this.endedEarly = true;
    });
    // Collectors send nothing, but whatever comes must be read for the end to be seen.
    socket.resume();
    this.closed = new Promise((done) => socket.once('close', (hadError) => done(hadError)));
  }

  send(frames: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.error || this.endedEarly) {
        reject(this.error ?? new Error('the collector closed the connection'));
        return;
      }
      const s = this.socket;
      s.cork();
      frames.forEach((f, i) =>
        s.write(f, i < frames.length - 1 ? undefined : (e) => (e ? reject(e) : resolve())),
      );
      process.nextTick(() => s.uncork());
      if (frames.length === 0) resolve();
    });
  }

  async confirm(): Promise<void> {
    this.endAsked = true;
    this.socket.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((done) => {
      timer = setTimeout(() => done('timeout'), CONFIRM_TIMEOUT_MS);
    });
    const hadError = await Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
    if (hadError === 'timeout') {
      this.socket.destroy();
      throw new Error(`the collector did not close the connection within ${CONFIRM_TIMEOUT_MS} ms`);
    }
    if (this.error || hadError) throw this.error ?? new Error('the connection failed');
    if (this.endedEarly)
      throw new Error('the collector closed the connection before the batch ended');
    if (!this.ended) throw new Error('the connection closed without the collector ending it');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
