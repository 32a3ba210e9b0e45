// Public surface of the logging context: the process's structured logger (pino behind Nest's
// LoggerService), the correlation fields of the request or association being handled, and the
// HTTP request-logging middleware. A leaf: it depends on no other context.
export {
  bindLogFields,
  currentLogFields,
  runWithLogFields,
  type LogFields,
} from './log-context.js';
export { REQUEST_ID_HEADER, requestLogging } from './request-logging.js';
export {
  type LogFormat,
  StrataLogger,
  type StrataLoggerOptions,
  type StrataLogLevel,
} from './strata-logger.js';
