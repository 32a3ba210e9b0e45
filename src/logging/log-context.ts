import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Correlation fields every log line written while handling one unit of work carries: the HTTP
 * request id, or the DICOM association id. Kept in an AsyncLocalStorage so that code deep in the
 * pipeline (ingestion, storage, audit) needs no logger parameter to be correlated.
 */
export interface LogFields {
  requestId?: string;
  association?: string;
}

const storage = new AsyncLocalStorage<LogFields>();

/** The correlation fields of the work the caller is part of (empty outside any). */
export function currentLogFields(): LogFields | undefined {
  return storage.getStore();
}

/** Runs `work` (and everything it starts, sync or async) with `fields` on every log line. */
export function runWithLogFields<T>(fields: LogFields, work: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, work);
}

/**
 * Wraps an event handler so that it runs with `fields`: socket and timer callbacks run in the
 * context of whatever created the socket, not of the code that attached them.
 */
export function bindLogFields<A extends unknown[], R>(
  fields: LogFields,
  fn: (...args: A) => R,
): (...args: A) => R {
  const store = { ...storage.getStore(), ...fields };
  return (...args: A) => storage.run(store, fn, ...args);
}
