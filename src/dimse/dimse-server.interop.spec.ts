// Interoperability with a real, independent DICOM implementation (dcmtk's echoscu/storescu).
// Without dcmtk these tests are skipped, unless STRATA_REQUIRE_INTEROP=1 (CI), where that fails.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DimseStatus } from './status.js';
import {
  drain,
  type Harness,
  rawEcho,
  runTool,
  startHarness,
  toolAvailable,
  waitFor,
} from './testing/harness.js';
import {
  CT_IMAGE_STORAGE,
  EXPLICIT_VR_LITTLE_ENDIAN,
  part10InMemory,
  writePart10File,
} from './testing/part10.js';
import { RawClient } from './testing/raw-client.js';

const hasDcmtk = toolAvailable('storescu') && toolAvailable('echoscu');
const requireInterop = process.env.STRATA_REQUIRE_INTEROP === '1';
const MiB = 1024 * 1024;
if (!hasDcmtk && !requireInterop) {
  console.warn('dcmtk (storescu, echoscu) not on PATH: skipping DIMSE interop tests');
}

describe('dcmtk availability', () => {
  it('has storescu and echoscu on PATH (required when STRATA_REQUIRE_INTEROP=1)', (ctx) => {
    if (hasDcmtk) return;
    if (requireInterop) expect.fail('storescu/echoscu not on PATH but STRATA_REQUIRE_INTEROP=1');
    ctx.skip('dcmtk (storescu, echoscu) not installed: DIMSE interop tests skipped');
  });
});

describe.skipIf(!hasDcmtk)('DimseServer with dcmtk', () => {
  let dir: string;
  let h: Harness | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-dimse-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await h?.server.close(1000);
    h = undefined;
  });

  const target = (port: number, called = 'STRATA'): string[] => [
    '-aet',
    'TESTSCU',
    '-aec',
    called,
    '127.0.0.1',
    String(port),
  ];

  it('answers echoscu', async () => {
    h = await startHarness();
    const { code, output } = await runTool('echoscu', target(h.port));
    expect(code, output).toBe(0);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]).toMatchObject({
      how: 'released',
      info: { callingAet: 'TESTSCU', calledAet: 'STRATA' },
    });
  });

  it('rejects an association when decideAssociation says no', async () => {
    h = await startHarness();
    const { code, output } = await runTool('echoscu', target(h.port, 'SOMEONEELSE'));
    expect(code).not.toBe(0);
    expect(output).toMatch(/Association Rejected/);
    expect(output).toMatch(/Called AE Title Not Recognized/);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]!.how).toBe('rejected');
  });

  it('receives the data sets byte for byte, across PDU fragmentation', async () => {
    // A small max PDU forces the larger instances over many PDUs and PDVs.
    h = await startHarness({ options: { maxPduLength: 16384 } });
    const sizes = [0, 1000, 200 * 1024 + 3, 3 * MiB];
    const expected = new Map<string, Buffer>();
    const files: string[] = [];
    for (const [i, size] of sizes.entries()) {
      const uid = `1.2.826.0.1.3680043.10.1461.99.3.${i + 1}`;
      const { file, dataset } = part10InMemory({ sopInstanceUid: uid, pixelBytes: size, seed: i });
      const path = join(dir, `small-${i}.dcm`);
      await writeFile(path, file);
      files.push(path);
      expected.set(uid, dataset);
    }
    const { code, output } = await runTool('storescu', [...target(h.port), ...files]);
    expect(code, output).toBe(0);
    expect(h.stores).toHaveLength(sizes.length);
    for (const s of h.stores) {
      const want = expected.get(s.req.affectedSopInstanceUid);
      expect(want).toBeDefined();
      expect(s.bytes!.equals(want!)).toBe(true);
      expect(s.req).toMatchObject({
        affectedSopClassUid: CT_IMAGE_STORAGE,
        transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
        association: { callingAet: 'TESTSCU', calledAet: 'STRATA', remoteAddress: '127.0.0.1' },
      });
    }
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]).toMatchObject({
      how: 'released',
      stats: { stored: sizes.length, failed: 0 },
    });
  });

  it('passes the handler status back to storescu', async () => {
    h = await startHarness({
      handlers: {
        onStore: async (_req, data) => {
          await drain(data, false);
          return { status: DimseStatus.OutOfResources, errorComment: 'Storage full' };
        },
      },
    });
    const path = join(dir, 'status.dcm');
    await writeFile(
      path,
      part10InMemory({ sopInstanceUid: '1.2.826.0.1.3680043.10.1461.99.4', pixelBytes: 4096 }).file,
    );
    const { code, output } = await runTool('storescu', ['-v', ...target(h.port), path]);
    expect(code).not.toBe(0);
    expect(output).toMatch(/Received Store Response \(Refused: OutOfResources\)/);
    await waitFor(() => h!.closed.length === 1);
    expect(h.closed[0]!.stats).toMatchObject({ stored: 0, failed: 1 });
  });

  it('answers 0x0110 when the handler throws', async () => {
    h = await startHarness({
      handlers: {
        onStore: async () => {
          throw new Error('boom');
        },
      },
    });
    const path = join(dir, 'throw.dcm');
    await writeFile(
      path,
      part10InMemory({ sopInstanceUid: '1.2.826.0.1.3680043.10.1461.99.5', pixelBytes: 300_000 })
        .file,
    );
    const { code, output } = await runTool('storescu', ['-v', ...target(h.port), path]);
    expect(code).not.toBe(0);
    expect(output).toMatch(/Received Store Response \(Unknown Status: 0x110\)/);
    expect(h.logs.join('\n')).not.toMatch(/TEST-PATIENT/);
  });

  it('rejects presentation contexts of unsupported SOP classes', async () => {
    let called = false;
    h = await startHarness({
      handlers: {
        acceptsAbstractSyntax: () => false,
        onStore: async () => {
          called = true;
          return { status: 0 };
        },
      },
    });
    const path = join(dir, 'unsupported.dcm');
    await writeFile(
      path,
      part10InMemory({ sopInstanceUid: '1.2.826.0.1.3680043.10.1461.99.6', pixelBytes: 16 }).file,
    );
    const { code, output } = await runTool('storescu', [...target(h.port), path]);
    expect(code).not.toBe(0);
    expect(output).toMatch(/No Acceptable Presentation Contexts/);
    expect(called).toBe(false);
  });

  it('still answers echoscu after hostile input', async () => {
    h = await startHarness();
    const client = await RawClient.connect(h.port);
    client.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await client.waitClosed()).toBe(true);
    const { code, output } = await runTool('echoscu', target(h.port));
    expect(code, output).toBe(0);
    expect(await rawEcho(h.port)).toBe(0);
  });

  it('streams a ~300 MiB instance with bounded memory', { timeout: 120_000 }, async () => {
    const path = join(dir, 'big.dcm');
    const written = await writePart10File(path, {
      sopInstanceUid: '1.2.826.0.1.3680043.10.1461.99.7',
      pixelBytes: 300 * MiB,
      seed: 7,
    });
    h = await startHarness({ keepBytes: false });
    globalThis.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
    try {
      const { code, output } = await runTool('storescu', [...target(h.port), path]);
      expect(code, output).toBe(0);
    } finally {
      clearInterval(sampler);
    }
    expect(h.stores).toHaveLength(1);
    expect(h.stores[0]).toMatchObject({ length: written.length, sha256: written.sha256 });
    const grownMiB = (peak - baseline) / MiB;
    console.log(
      `RSS grew by ${grownMiB.toFixed(1)} MiB while receiving a ${(written.length / MiB).toFixed(0)} MiB instance`,
    );
    expect(grownMiB).toBeLessThan(100);
  });
});
