import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type SyslogConfig } from '../../config/index.js';
import { SyslogTransport } from './syslog-transport.repository.js';

let server: Server | null = null;

afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = null;
});

/** A collector on a loopback port that does `handle` with each connection. */
async function collector(handle: (s: Socket, received: Buffer[]) => void) {
  const received: Buffer[] = [];
  server = createServer((s) => handle(s, received));
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  const config: SyslogConfig = {
    host: '127.0.0.1',
    port,
    protocol: 'tcp',
    caFile: null,
    certFile: null,
    keyFile: null,
    rejectUnauthorized: true,
    pseudonymize: false,
    batch: 10,
  };
  return { transport: new SyslogTransport(config), received };
}

const frames = [Buffer.from('5 hello'), Buffer.from('5 world')];

describe('syslog transport: delivery confirmed by the orderly close', () => {
  it('confirms once the collector read to the end and closed', async () => {
    const { transport, received } = await collector((s, got) => {
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end());
    });
    expect(transport.destination).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const c = await transport.connect();
    await c.send(frames);
    await c.confirm();
    expect(Buffer.concat(received).toString()).toBe('5 hello5 world');
  });

  it('fails when the collector resets the connection with bytes unread', async () => {
    const { transport } = await collector((s) => {
      s.pause();
      setTimeout(() => s.resetAndDestroy(), 20);
    });
    const c = await transport.connect();
    await c.send(frames).catch(() => undefined);
    await expect(c.confirm()).rejects.toThrow();
  });

  it('fails when the collector closed before the batch ended', async () => {
    const { transport } = await collector((s) => {
      s.resume();
      s.end();
    });
    const c = await transport.connect();
    await new Promise((r) => setTimeout(r, 50));
    await c.send(frames).catch(() => undefined);
    await expect(c.confirm()).rejects.toThrow();
  });

  it('fails to connect when nothing listens', async () => {
    const { transport } = await collector(() => undefined);
    await new Promise<void>((done) => server!.close(() => done()));
    server = null;
    await expect(transport.connect()).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses to connect without a configured collector', async () => {
    await expect(new SyslogTransport(null).connect()).rejects.toThrow(/no syslog collector/);
  });
});
