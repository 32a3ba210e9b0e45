import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DicomFormatError } from './errors.js';
import type { BulkElementInfo, ParsedHeader } from './parse-header.js';
import { parseHeaderSync } from './parse-header.js';
import type { ParseRequest, ParseResponse } from './header-parser.worker.js';

/**
 * Runs parseHeaderSync in worker threads so that a hostile header can cost at most `timeoutMs`
 * of CPU (the worker is terminated and replaced) and `maxOldGenerationSizeMb` of heap (V8 kills
 * the worker, which is replaced). Requests queue when every worker is busy.
 *
 * Loading the worker. In production the pool is dist/src/dicom/header-parser-pool.js and starts
 * the compiled sibling header-parser.worker.js. Under Vitest the pool runs from its .ts source,
 * which Vite transforms, but a worker thread is plain Node and Node 20 cannot run TypeScript. So
 * when this module's own URL ends in .ts, the worker starts from a tiny bootstrap that registers
 * module hooks (node:module register, Node >= 20.6) which transpile .ts files with the
 * `typescript` compiler already installed for the build (ts.transpileModule, no type check) and
 * map './x.js' imports to './x.ts'; then it imports header-parser.worker.ts. Tests thus exercise
 * the real worker, and no extra package is needed. The bootstrap never runs in production.
 */

export interface HeaderParserPoolOptions {
  /** Worker threads (default 1). */
  size?: number;
  /** Wall-clock limit for one parse (default 5000 ms). */
  timeoutMs?: number;
  /** Heap limit of each worker (default 256 MiB). */
  maxOldGenerationSizeMb?: number;
  /** Limit for a worker to start and load dcmjs (default 30 s). */
  startupTimeoutMs?: number;
  /**
   * Parse on the calling thread with no time or memory bound: for unit tests of other contexts
   * that want speed over isolation. Never in production.
   */
  inline?: boolean;
  /**
   * Headers of at most this many bytes parse on the calling thread (default 0: none). The parse
   * is linear in the header's size, so a small header costs a fraction of a millisecond there,
   * less than the trip to a worker; large or hostile ones still go to a bounded worker.
   */
  inlineMaxBytes?: number;
  /** Another worker script speaking the same protocol (tests: a worker that spins or crashes). */
  workerUrl?: URL;
}

interface Job {
  id: number;
  request: ParseRequest;
  resolve: (result: ParsedHeader) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
  gone: boolean;
}

const WORKER_FILE = 'header-parser.worker';

export class HeaderParserPool {
  private readonly size: number;
  private readonly timeoutMs: number;
  private readonly maxOldGenerationSizeMb: number;
  private readonly startupTimeoutMs: number;
  private readonly inlineMaxBytes: number;
  private readonly workerUrl: URL | null;
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: HeaderParserPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? 1);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxOldGenerationSizeMb = options.maxOldGenerationSizeMb ?? 256;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 30_000;
    this.inlineMaxBytes = options.inline ? Infinity : Math.max(0, options.inlineMaxBytes ?? 0);
    this.workerUrl = options.workerUrl ?? null;
  }

  /**
   * Parses a captured header (see parseHeaderSync). The bytes are copied once into a buffer that
   * is transferred to the worker, so the caller's buffer stays usable.
   */
  parse(
    headerBytes: Buffer,
    transferSyntaxUid: string,
    bulk?: BulkElementInfo,
  ): Promise<ParsedHeader> {
    if (this.closed) {
      return Promise.reject(
        new DicomFormatError('parse-failed', 'the header parser pool is closed'),
      );
    }
    if (headerBytes.length <= this.inlineMaxBytes) {
      return new Promise((resolve) =>
        resolve(parseHeaderSync(headerBytes, transferSyntaxUid, bulk)),
      );
    }
    const copy = new ArrayBuffer(headerBytes.length);
    new Uint8Array(copy).set(headerBytes);
    const id = this.nextId++;
    const request: ParseRequest = {
      id,
      headerBytes: copy,
      transferSyntaxUid,
      ...(bulk ? { bulk: { ...bulk } } : {}),
    };
    return new Promise<ParsedHeader>((resolve, reject) => {
      this.queue.push({ id, request, resolve, reject });
      this.dispatch();
    });
  }

  /** Rejects queued and running parses, and stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    const closing = new DicomFormatError('parse-failed', 'the header parser pool was closed');
    for (const job of this.queue.splice(0)) job.reject(closing);
    const exits: Promise<number>[] = [];
    for (const slot of [...this.slots]) {
      const job = this.retire(slot);
      job?.reject(closing);
      exits.push(slot.worker.terminate());
    }
    await Promise.allSettled(exits);
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.ready && !slot.job) this.run(slot, this.queue.shift()!);
    }
    let starting = [...this.slots].filter((s) => !s.ready).length;
    while (this.queue.length > starting && this.slots.size < this.size) {
      this.spawn();
      starting++;
    }
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      this.retire(slot);
      void slot.worker.terminate();
      job.reject(
        new DicomFormatError(
          'parse-timeout',
          `parsing the header took longer than ${this.timeoutMs} ms`,
        ),
      );
      this.spawnReplacement();
    }, this.timeoutMs);
    slot.worker.postMessage(job.request, [job.request.headerBytes]);
  }

  private spawn(): void {
    const { url, execArgv } = this.workerEntry();
    const worker = new Worker(url, {
      execArgv,
      resourceLimits: { maxOldGenerationSizeMb: this.maxOldGenerationSizeMb },
    });
    const slot: Slot = { worker, ready: false, job: null, timer: null, gone: false };
    this.slots.add(slot);
    slot.timer = setTimeout(
      () => this.startupFailed(slot, 'the header parser worker did not start in time'),
      this.startupTimeoutMs,
    );
    worker.on('message', (message: ParseResponse) => this.onMessage(slot, message));
    worker.on('error', (err: Error & { code?: string }) => {
      const reason =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? 'the header parser ran out of memory'
          : 'the header parser worker crashed';
      this.onWorkerGone(slot, reason);
    });
    worker.on('exit', () => this.onWorkerGone(slot, 'the header parser worker exited'));
  }

  private onMessage(slot: Slot, message: ParseResponse): void {
    if (slot.gone) return;
    if (message.type === 'ready') {
      slot.ready = true;
      this.clearTimer(slot);
      slot.worker.unref();
      this.dispatch();
      return;
    }
    const job = slot.job;
    if (!job || message.id !== job.id) return;
    this.clearTimer(slot);
    slot.job = null;
    slot.worker.unref();
    if (message.ok) job.resolve(message.result);
    else job.reject(new DicomFormatError(message.reason, message.message));
    this.dispatch();
  }

  private onWorkerGone(slot: Slot, why: string): void {
    if (slot.gone) return;
    const wasReady = slot.ready;
    const job = this.retire(slot);
    if (!wasReady) {
      this.startupFailed(slot, 'the header parser worker failed to start');
      return;
    }
    job?.reject(new DicomFormatError('parse-failed', why));
    this.spawnReplacement();
  }

  /**
   * A worker that never became ready will not do better next time (a missing file, a broken
   * build): fail what is queued rather than respawn in a loop. The next parse() tries again.
   */
  private startupFailed(slot: Slot, why: string): void {
    this.retire(slot);
    void slot.worker.terminate();
    const error = new DicomFormatError('parse-failed', why);
    for (const job of this.queue.splice(0)) job.reject(error);
  }

  /** Keeps the pool at strength after a timeout or crash, so the next parse does not wait. */
  private spawnReplacement(): void {
    if (!this.closed && this.slots.size < this.size) this.spawn();
    this.dispatch();
  }

  /** Removes a slot from the pool; returns the job it was running. */
  private retire(slot: Slot): Job | null {
    slot.gone = true;
    this.clearTimer(slot);
    this.slots.delete(slot);
    const job = slot.job;
    slot.job = null;
    slot.worker.unref();
    return job;
  }

  private clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  private workerEntry(): { url: URL; execArgv?: string[] } {
    if (this.workerUrl) return { url: this.workerUrl };
    const runningFromSource = import.meta.url.endsWith('.ts');
    const target = new URL(`./${WORKER_FILE}.${runningFromSource ? 'ts' : 'js'}`, import.meta.url);
    if (!runningFromSource) return { url: target };
    return { url: typeScriptBootstrap(target), execArgv: [] };
  }
}

/**
 * A data: URL module that registers the TypeScript-transpiling hooks and imports `target`.
 * Only used when this file itself runs from source (Vitest); see the comment at the top.
 */
function typeScriptBootstrap(target: URL): URL {
  const typescriptUrl = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
  const hooks = `
import ts from ${JSON.stringify(typescriptUrl)};
import { readFile } from 'node:fs/promises';
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier.endsWith('.js') &&
        context.parentURL?.endsWith('.ts')) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw err;
  }
}
export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      inlineSourceMap: true,
    },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}`;
  const hooksUrl = `data:text/javascript,${encodeURIComponent(hooks)}`;
  const bootstrap =
    `import { register } from 'node:module';\n` +
    `register(${JSON.stringify(hooksUrl)});\n` +
    `await import(${JSON.stringify(target.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}
