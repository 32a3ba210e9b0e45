import { describe, expect, it } from 'vitest';
import { type StrataConfig, type SyslogConfig } from '../../config/index.js';
import { type AuditRow } from '../audit-event.js';
import { auditRow } from '../formats/testing/sample-rows.js';
import { AuditSyslogSender, type SyslogTimings } from './audit-syslog-sender.service.js';
import { type PseudonymKeyRepository } from './pseudonym-key.repository.js';
import { type SyslogSpool, type SyslogSpoolRepository } from './syslog-spool.repository.js';
import { parseSyslog, splitOctetCounted } from './testing/parse-syslog.js';
import { type SyslogConnection, type SyslogTransport } from './syslog-transport.repository.js';

const TIMINGS: SyslogTimings = {
  pollMs: 5,
  standbyMs: 5,
  backoffMs: 1,
  maxBackoffMs: 8,
  stopGraceMs: 2_000,
};

/** An in-memory trail and cursor, with the lock held by this node unless `heldElsewhere`. */
class FakeSpool {
  rows: AuditRow[] = [];
  cursor = 0;
  heldElsewhere = false;
  lostLock = false;
  holds = 0;

  append(n: number, patientId: string | null = null): void {
    for (let i = 0; i < n; i++) {
      const seq = this.rows.length + 1;
      this.rows.push(auditRow({ action: 'study.queried', seq, patientId }));
    }
  }

  async whileHolding<T>(_d: string, work: (s: SyslogSpool) => Promise<T>): Promise<T | null> {
    if (this.heldElsewhere) return null;
    this.holds++;
    return work({
      delivered: async () => this.cursor,
      rowsAfter: async (seq, limit) => this.rows.filter((r) => r.seq > seq).slice(0, limit),
      advance: async (from, to) => {
        if (this.lostLock || this.cursor !== from) return false;
        this.cursor = to;
        return true;
      },
    });
  }
}

type Behaviour = 'ok' | 'refuse' | 'reset' | 'slow';

/** A collector: records what reached it; `next` says how the coming connections behave. */
class FakeTransport {
  readonly destination = 'tcp://collector:514';
  next: Behaviour[] = [];
  /** Every message that reached the collector, in order (a reset batch too: it may have been read). */
  received: number[] = [];
  connections = 0;
  release: (() => void) | null = null;

  async connect(): Promise<SyslogConnection> {
    this.connections++;
    const behaviour = this.next.shift() ?? 'ok';
    if (behaviour === 'refuse') throw new Error('connect ECONNREFUSED');
    let frames: Buffer[] = [];
    return {
      send: async (f) => {
        frames = f;
        for (const frame of f) {
          const [msg] = splitOctetCounted(frame);
          this.received.push(Number(parseSyslog(msg!).sd['strata@32473']!.seq));
        }
      },
      confirm: async () => {
        if (behaviour === 'reset') throw new Error('read ECONNRESET');
        if (behaviour === 'slow') await new Promise<void>((done) => (this.release = done));
        expect(frames.length).toBeGreaterThan(0);
      },
      destroy: () => undefined,
    };
  }
}

function sender(spool: FakeSpool, transport: FakeTransport, syslog: Partial<SyslogConfig> = {}) {
  const config = {
    dicom: { aeTitle: 'STRATA' },
    keys: { dir: '/nonexistent' },
    audit: {
      syslog: {
        host: 'collector',
        port: 514,
        protocol: 'tcp',
        caFile: null,
        certFile: null,
        keyFile: null,
        rejectUnauthorized: true,
        pseudonymize: false,
        batch: 10,
        ...syslog,
      },
    },
  } as unknown as StrataConfig;
  const keys = {
    pseudonymizer: async () => (id: string) => `PSEUDO-${id.length}`,
  } as unknown as PseudonymKeyRepository;
  return new AuditSyslogSender(
    config,
    spool as unknown as SyslogSpoolRepository,
    transport as unknown as SyslogTransport,
    keys,
    TIMINGS,
  );
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('the audit syslog sender', () => {
  it('delivers every row once, in order, in batches, moving the cursor after each', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    spool.append(25);
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await until(() => spool.cursor === 25);
    spool.append(3);
    await until(() => spool.cursor === 28);
    await s.onApplicationShutdown();
    expect(transport.received).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
    expect(transport.connections).toBe(4);
  });

  it('while the collector is down the cursor stays; it catches up when it returns', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    transport.next = ['refuse', 'refuse', 'refuse', 'refuse'];
    spool.append(15);
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await until(() => transport.connections >= 3);
    expect(spool.cursor).toBe(0);
    spool.append(10);
    await until(() => spool.cursor === 25);
    await s.onApplicationShutdown();
    expect(transport.received).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('a batch whose connection breaks is sent again whole: duplicates of that batch only', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    transport.next = ['ok', 'reset', 'ok'];
    spool.append(25);
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await until(() => spool.cursor === 25);
    await s.onApplicationShutdown();
    const batch = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(transport.received).toEqual([
      ...batch(1, 10),
      ...batch(11, 20), // reset: the collector may or may not have read it
      ...batch(11, 20),
      ...batch(21, 25),
    ]);
  });

  it('a graceful stop waits for the batch in flight and saves its cursor: nothing is sent twice', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    transport.next = ['slow'];
    spool.append(5);
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await until(() => transport.release !== null);
    const stopped = s.onApplicationShutdown();
    await new Promise((r) => setTimeout(r, 20));
    expect(spool.cursor).toBe(0);
    transport.release!();
    await stopped;
    expect(spool.cursor).toBe(5);
    // A new sender (Strata restarted) goes on after it.
    spool.append(2);
    const again = sender(spool, transport);
    again.onApplicationBootstrap();
    await until(() => spool.cursor === 7);
    await again.onApplicationShutdown();
    expect(transport.received).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('sends nothing while another node holds the lock, and takes over when it is released', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    spool.heldElsewhere = true;
    spool.append(3);
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await new Promise((r) => setTimeout(r, 30));
    expect(transport.connections).toBe(0);
    spool.heldElsewhere = false;
    await until(() => spool.cursor === 3);
    await s.onApplicationShutdown();
  });

  it('stops sending when the cursor moved under it (its lock was lost)', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    spool.append(3);
    spool.lostLock = true;
    const s = sender(spool, transport);
    s.onApplicationBootstrap();
    await until(() => spool.holds >= 2);
    await s.onApplicationShutdown();
    expect(spool.cursor).toBe(0);
  });

  it('pseudonymises what it sends when asked to, never the trail', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    spool.append(1, 'PID-42');
    let sent = '';
    const connect = transport.connect.bind(transport);
    transport.connect = async () => {
      const c = await connect();
      return { ...c, send: async (f) => ((sent = Buffer.concat(f).toString()), c.send(f)) };
    };
    const s = sender(spool, transport, { pseudonymize: true });
    s.onApplicationBootstrap();
    await until(() => spool.cursor === 1);
    await s.onApplicationShutdown();
    expect(sent).toContain('PSEUDO-6');
    expect(sent).not.toContain('PID-42');
    expect(spool.rows[0]!.patientId).toBe('PID-42');
  });

  it('does nothing without audit.syslog', async () => {
    const spool = new FakeSpool();
    const transport = new FakeTransport();
    spool.append(1);
    const s = sender(spool, transport);
    (s as unknown as { settings: null }).settings = null;
    s.onApplicationBootstrap();
    await new Promise((r) => setTimeout(r, 20));
    await s.onApplicationShutdown();
    expect(transport.connections).toBe(0);
  });
});
