import { randomUUID } from 'node:crypto';
import { type NextFunction, type Request, type Response } from 'express';
import { runWithLogFields } from './log-context.js';
import { type StrataLogger } from './strata-logger.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** An incoming X-Request-Id is kept only if short and plain (it goes into every log line). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Paths scraped or probed every few seconds: their successes are logged at debug level only. */
const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * Express middleware, first in the chain: gives each HTTP request a correlation id (the caller's
 * X-Request-Id if it is safe, else a new UUID), returns it as a response header, runs the rest of
 * the request with it on every log line, and writes one access line when the response is over:
 * method, path WITHOUT the query string (QIDO query strings hold patient names), the matched
 * route, status, duration, bytes sent (headers included), and the authenticated actor.
 */
export function requestLogging(logger: StrataLogger) {
  const log = logger.pino.child({ context: 'HTTP' });
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const started = process.hrtime.bigint();
    const socket = req.socket;
    const writtenAtStart = socket.bytesWritten;
    runWithLogFields({ requestId }, () => {
      res.once('close', () => {
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        const path = (req.originalUrl ?? req.url).split('?', 1)[0]!;
        const route = (req.route as { path?: unknown } | undefined)?.path;
        const actor = (req as { strataUser?: { name?: unknown } }).strataUser?.name;
        // Listeners run outside the request's async context: the id is given explicitly.
        const fields = {
          requestId,
          method: req.method,
          path,
          ...(typeof route === 'string' ? { route } : {}),
          status: res.statusCode,
          durationMs: Math.round(durationMs * 10) / 10,
          bytesOut: socket.bytesWritten - writtenAtStart,
          ...(typeof actor === 'string' ? { actor } : {}),
          ...(res.writableFinished ? {} : { aborted: true }),
        };
        const msg = `${req.method} ${path} ${res.statusCode} ${fields.durationMs} ms`;
        // 503 is an answer, not a fault: overload refusals (counted, and reported once a minute by
        // the ingestion context) and a node that is not ready. At error level a load spike
        // would flood the log with them.
        if (res.statusCode >= 500 && res.statusCode !== 503) log.error(fields, msg);
        else if (QUIET_PATHS.has(path) && (res.statusCode < 400 || res.statusCode === 503)) {
          log.debug(fields, msg);
        } else log.info(fields, msg);
      });
      next();
    });
  };
}
