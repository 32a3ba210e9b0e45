import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DicomFormatError } from './errors.js';
import { HeaderParserPool } from './header-parser-pool.js';
import { makeInstance } from './testing/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

/** A worker speaking the pool's protocol, written inline: it spins, crashes or answers. */
function fakeWorker(onMessage: string): URL {
  const code = `
    import { parentPort } from 'node:worker_threads';
    parentPort.on('message', (request) => {
      const kind = request.transferSyntaxUid;
      ${onMessage}
      parentPort.postMessage({ type: 'result', id: request.id, ok: true, result: { answeredBy: 'fake', size: request.headerBytes.byteLength } });
    });
    parentPort.postMessage({ type: 'ready' });
  `;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

const header = (() => {
  const instance = makeInstance({ transferSyntax: 'explicit', patientName: 'Pool^Test' });
  return { instance, bytes: instance.dataset.subarray(0, instance.pixelDataOffset!) };
})();

describe('HeaderParserPool', () => {
  const pools: HeaderParserPool[] = [];
  const track = (pool: HeaderParserPool): HeaderParserPool => {
    pools.push(pool);
    return pool;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  it(
    'parses in a real worker (loaded from the .ts source under Vitest)',
    { timeout: 30_000 },
    async () => {
      const pool = track(new HeaderParserPool({ size: 2 }));
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          pool.parse(header.bytes, header.instance.transferSyntaxUid),
        ),
      );
      for (const parsed of results) {
        expect(parsed.sopInstanceUid).toBe(header.instance.sopInstanceUid);
        expect(parsed.attributes.patientName).toBe('Pool^Test');
      }
      // The caller's buffer was copied, not detached.
      expect(header.bytes.length).toBeGreaterThan(0);
      expect(header.bytes.readUInt16LE(0)).toBe(0x0008);
    },
  );

  it('passes DicomFormatError reasons back from the worker', { timeout: 30_000 }, async () => {
    const pool = track(new HeaderParserPool());
    const missing = makeInstance({ omit: ['00080018'] });
    await expect(
      pool.parse(missing.dataset.subarray(0, missing.pixelDataOffset!), missing.transferSyntaxUid),
    ).rejects.toMatchObject({ name: 'DicomFormatError', reason: 'missing-attribute' });
    await expect(pool.parse(Buffer.from('garbage!'), '1.2.840.10008.1.2.1')).rejects.toBeInstanceOf(
      DicomFormatError,
    );
    // Still serving afterwards.
    const ok = await pool.parse(header.bytes, header.instance.transferSyntaxUid);
    expect(ok.sopInstanceUid).toBe(header.instance.sopInstanceUid);
  });

  it('terminates a parse that spins, rejects with parse-timeout, and respawns', async () => {
    const pool = track(
      new HeaderParserPool({
        timeoutMs: 300,
        workerUrl: fakeWorker(`if (kind === 'spin') for (;;) {}`),
      }),
    );
    const started = Date.now();
    await expect(pool.parse(Buffer.alloc(4), 'spin')).rejects.toMatchObject({
      reason: 'parse-timeout',
    });
    expect(Date.now() - started).toBeLessThan(5000);
    // A queued request behind the spinning one is served by the replacement worker.
    const spin = pool.parse(Buffer.alloc(4), 'spin');
    const next = pool.parse(Buffer.alloc(10), 'ok');
    await expect(spin).rejects.toMatchObject({ reason: 'parse-timeout' });
    await expect(next).resolves.toEqual({ answeredBy: 'fake', size: 10 });
  });

  it('rejects with parse-failed when the worker crashes, and respawns', async () => {
    const pool = track(
      new HeaderParserPool({ workerUrl: fakeWorker(`if (kind === 'crash') process.exit(3);`) }),
    );
    await expect(pool.parse(Buffer.alloc(4), 'crash')).rejects.toMatchObject({
      reason: 'parse-failed',
    });
    await expect(pool.parse(Buffer.alloc(6), 'ok')).resolves.toEqual({
      answeredBy: 'fake',
      size: 6,
    });
  });

  it(
    'rejects with parse-failed when the worker runs out of memory',
    { timeout: 30_000 },
    async () => {
      const pool = track(
        new HeaderParserPool({
          maxOldGenerationSizeMb: 32,
          workerUrl: fakeWorker(
            `if (kind === 'hog') { const keep = []; for (;;) keep.push(new Array(1e5).fill({ x: 1 })); }`,
          ),
        }),
      );
      const err = await pool.parse(Buffer.alloc(4), 'hog').catch((e: unknown) => e);
      expect(err).toMatchObject({
        reason: 'parse-failed',
        message: 'the header parser ran out of memory',
      });
      await expect(pool.parse(Buffer.alloc(2), 'ok')).resolves.toEqual({
        answeredBy: 'fake',
        size: 2,
      });
    },
  );

  it('fails fast, without a respawn loop, when the worker cannot start', async () => {
    const pool = track(
      new HeaderParserPool({ workerUrl: pathToFileURL(join(here, 'no-such-worker.js')) }),
    );
    await expect(pool.parse(Buffer.alloc(4), 'x')).rejects.toMatchObject({
      reason: 'parse-failed',
    });
    await expect(pool.parse(Buffer.alloc(4), 'x')).rejects.toMatchObject({
      reason: 'parse-failed',
    });
  });

  it('rejects pending and later parses once closed', async () => {
    const pool = new HeaderParserPool({
      timeoutMs: 10_000,
      workerUrl: fakeWorker(`if (kind === 'spin') for (;;) {}`),
    });
    const outcomes = Promise.allSettled([
      pool.parse(Buffer.alloc(4), 'spin'), // running
      pool.parse(Buffer.alloc(4), 'ok'), // queued behind it
    ]);
    await new Promise((r) => setTimeout(r, 200));
    await pool.close();
    for (const outcome of await outcomes) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { reason: 'parse-failed' } });
    }
    await expect(pool.parse(Buffer.alloc(4), 'ok')).rejects.toMatchObject({
      reason: 'parse-failed',
    });
  });

  it('parses in-process with { inline: true }', async () => {
    const pool = track(new HeaderParserPool({ inline: true }));
    const parsed = await pool.parse(header.bytes, header.instance.transferSyntaxUid);
    expect(parsed.sopInstanceUid).toBe(header.instance.sopInstanceUid);
    await expect(pool.parse(Buffer.from('garbage!'), '1.2.840.10008.1.2.1')).rejects.toBeInstanceOf(
      DicomFormatError,
    );
  });

  describe('compiled (the production path: dist/src/dicom/*.js)', () => {
    let outDir: string;

    beforeAll(async () => {
      // Compile just this context with the project's compiler settings, into a temp dir whose
      // node_modules link lets the compiled files resolve dcmjs as dist/ would.
      outDir = await mkdtemp(join(tmpdir(), 'strata-dicom-dist-'));
      await symlink(join(repoRoot, 'node_modules'), join(outDir, 'node_modules'), 'dir');
      await writeFile(join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
      await writeFile(
        join(outDir, 'tsconfig.json'),
        JSON.stringify({
          extends: join(repoRoot, 'tsconfig.json'),
          compilerOptions: {
            rootDir: here,
            outDir: join(outDir, 'dicom'),
            noEmit: false,
            sourceMap: false,
          },
          include: [],
          files: ['header-parser-pool.ts', 'header-parser.worker.ts', 'dcmjs.d.ts'].map((f) =>
            join(here, f),
          ),
        }),
      );
      const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
      await promisify(execFile)(process.execPath, [tsc, '-p', join(outDir, 'tsconfig.json')]);
    }, 120_000);

    afterAll(async () => {
      if (outDir) await rm(outDir, { recursive: true, force: true });
    });

    it('starts the compiled .js worker and parses', { timeout: 30_000 }, async () => {
      const compiled = (await import(
        /* @vite-ignore */ pathToFileURL(join(outDir, 'dicom', 'header-parser-pool.js')).href
      )) as typeof import('./header-parser-pool.js');
      const pool = new compiled.HeaderParserPool();
      try {
        const parsed = await pool.parse(header.bytes, header.instance.transferSyntaxUid);
        expect(parsed.sopInstanceUid).toBe(header.instance.sopInstanceUid);
      } finally {
        await pool.close();
      }
    });
  });
});
