import { type Logger } from '@nestjs/common';
import { type RetrievalFilter } from '../catalog/index.js';
import { problem } from './http.js';
import { ClientGoneError } from './stream-writing.js';

export function notFound(filter: RetrievalFilter): Error {
  const what = filter.sopInstanceUid ? 'instance' : filter.seriesInstanceUid ? 'series' : 'study';
  return problem(404, `the requested ${what} is not in the archive`);
}

/**
 * Logs why a transfer stopped. A client going away is routine (log level); anything else is a
 * warning. Messages from storage and streams carry no patient data.
 */
export function logStop(logger: Logger, error: unknown, what: string): void {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof ClientGoneError) logger.log(`${what}: ${reason}`);
  else logger.warn(`${what}: ${reason}`);
}
