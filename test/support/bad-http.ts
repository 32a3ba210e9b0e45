import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** True when the server answered before the whole request body was written. */
  answeredEarly: boolean;
}

/**
 * POSTs a body with full control over framing, for requests fetch() will not send as-is: a body
 * announced with Content-Length, or sent chunked (no Content-Length) in the given pieces. Resolves
 * with the response even when the server answers early and closes the connection while the body is
 * still being written (a 413 does that), which fetch reports as a network error instead.
 */
export function rawPost(
  url: string,
  headers: Record<string, string>,
  chunks: readonly Buffer[],
  framing: 'content-length' | 'chunked',
  timeoutMs = 60_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const req = request(url, {
      method: 'POST',
      headers: {
        ...headers,
        ...(framing === 'content-length'
          ? { 'content-length': String(total) }
          : { 'transfer-encoding': 'chunked' }),
      },
      agent: false,
    });
    let finished = false;
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (res) => {
      answered = true;
      const answeredEarly = !finished;
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => body.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(body),
          answeredEarly,
        });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.on('error', (e) => {
      // EPIPE/ECONNRESET while writing after the server answered and closed: the answer counts.
      if (answered) return;
      clearTimeout(timer);
      reject(e);
    });
    void (async () => {
      for (const chunk of chunks) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) {
          await new Promise<void>((r) => {
            const done = () => {
              req.off('drain', done);
              req.off('close', done);
              r();
            };
            req.on('drain', done);
            req.on('close', done);
          });
        }
      }
      finished = true;
      if (!req.destroyed) req.end();
    })();
  });
}

/**
 * Starts a chunked POST, writes `chunks` until `abortWhen()` says so (checked between chunks), then
 * destroys the connection without finishing the body, as a client that dies mid-request does.
 * Resolves with the number of bytes written; rejects if the server answered first.
 */
export function postAndAbort(
  url: string,
  headers: Record<string, string>,
  chunks: readonly Buffer[],
  abortWhen: () => boolean,
  timeoutMs = 30_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...headers, 'transfer-encoding': 'chunked' },
      agent: false,
    });
    req.on('error', () => undefined);
    req.on('response', (res) => {
      res.resume();
      reject(new Error(`the server answered ${res.statusCode} before the client aborted`));
    });
    const deadline = Date.now() + timeoutMs;
    void (async () => {
      let written = 0;
      for (const chunk of chunks) {
        if (abortWhen() || Date.now() > deadline) break;
        written += chunk.length;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        // Give the server time to act on what it got.
        await new Promise((r) => setTimeout(r, 5));
      }
      req.destroy();
      resolve(written);
    })();
  });
}

/** Parses an RFC 9457 problem body (throws if it is not JSON). */
export function problemOf(res: RawResponse): { status?: number; detail?: string; title?: string } {
  return JSON.parse(res.body.toString('utf8')) as { status?: number; detail?: string };
}
