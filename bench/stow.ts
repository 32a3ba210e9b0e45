/**
 * STOW-RS client: multipart/related requests of a few instances each, bodies streamed from the
 * files (never the whole dataset in memory), a fixed number of requests in flight.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Agent, type IncomingMessage, request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StowFile {
  path: string;
  size: number;
}

export interface StowOptions {
  url: string;
  headers: Record<string, string>;
  files: readonly StowFile[];
  instancesPerRequest: number;
  concurrency: number;
  /** Whole run; requests still running then are aborted and counted as failed. */
  timeoutMs: number;
}

export interface StowResult {
  seconds: number;
  requests: number;
  /** HTTP status → number of responses. */
  statuses: Record<string, number>;
  failures: string[];
  timedOut: boolean;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function postOne(
  options: StowOptions,
  agent: Agent,
  files: readonly StowFile[],
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  const boundary = `strata-bench-${randomBytes(12).toString('hex')}`;
  const partHead = Buffer.from(
    `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`,
    'latin1',
  );
  const crlf = Buffer.from('\r\n', 'latin1');
  const close = Buffer.from(`--${boundary}--\r\n`, 'latin1');
  const length =
    files.reduce((n, f) => n + partHead.length + f.size + crlf.length, 0) + close.length;

  async function* body(): AsyncGenerator<Buffer> {
    for (const file of files) {
      yield partHead;
      for await (const piece of createReadStream(file.path, { highWaterMark: 256 * 1024 })) {
        yield piece as Buffer;
      }
      yield crlf;
    }
    yield close;
  }

  const req = request(options.url, {
    method: 'POST',
    agent,
    signal,
    headers: {
      ...options.headers,
      'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      'Content-Length': String(length),
    },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // A server may answer (e.g. 413) and close before the body is sent: report its status then.
  const sent = pipeline(Readable.from(body()), req).catch((error: unknown) => error);
  const res = await response;
  const chunks: Buffer[] = [];
  for await (const piece of res) chunks.push(piece as Buffer);
  await sent;
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
}

/** Sends all files; every response must be 200 for the run to count as a success. */
export async function stowAll(options: StowOptions): Promise<StowResult> {
  const batches = chunk(options.files, options.instancesPerRequest);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < batches.length && !controller.signal.aborted) {
      const index = next++;
      try {
        const { status, body } = await postOne(options, agent, batches[index]!, controller.signal);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status !== 200) failures.push(`request ${index}: HTTP ${status} ${body.slice(0, 300)}`);
      } catch (error) {
        statuses.error = (statuses.error ?? 0) + 1;
        failures.push(
          `request ${index}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  agent.destroy();
  const unsent = batches.length - Object.values(statuses).reduce((a, b) => a + b, 0);
  if (unsent > 0) failures.push(`${unsent} request(s) not sent (timeout)`);
  return { seconds, requests: batches.length, statuses, failures, timedOut };
}
