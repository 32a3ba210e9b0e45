import { type LoggerService, type LogLevel } from '@nestjs/common';
import { type Level, type Logger as Pino, pino } from 'pino';
import { currentLogFields } from './log-context.js';
import { CENSOR, REDACTED_PATHS } from './redaction.js';
import { textLine } from './text-format.js';

export type LogFormat = 'json' | 'text';
export type StrataLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface StrataLoggerOptions {
  level: StrataLogLevel;
  /** json (default): one JSON object per line, for collectors; text: one readable line. */
  format: LogFormat;
  /** Where lines go; default process.stdout (looked up at each line, so captures see them). */
  write?: (line: string) => void;
}

/** Nest's levels as pino's ('log' is info, 'verbose' shows with debug as it always did). */
const PINO_LEVEL: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'debug',
};

/**
 * The process's logger: Nest's LoggerService over pino, so every existing `new Logger('X')` call
 * writes a structured line with `context: 'X'`, plus the correlation fields of the request or
 * association it runs for (log-context.ts), plus any object passed after the message:
 * `logger.log('stored', { instances: 3 })`. Patient data is never logged on purpose; the
 * redaction paths are a safety net for field names that could hold it.
 */
export class StrataLogger implements LoggerService {
  readonly pino: Pino;

  constructor(options: StrataLoggerOptions) {
    const write = options.write ?? ((line: string) => void process.stdout.write(line));
    const destination = {
      write: options.format === 'text' ? (line: string) => write(textLine(line)) : write,
    };
    this.pino = pino(
      {
        level: options.level,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACTED_PATHS, censor: CENSOR },
        mixin: () => currentLogFields() ?? {},
      },
      destination,
    );
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest's `logger: ['error', 'warn']` form: the most verbose level listed. */
  setLogLevels(levels: LogLevel[]): void {
    const order: Level[] = ['debug', 'info', 'warn', 'error', 'fatal'];
    const wanted = levels.map((l) => PINO_LEVEL[l]);
    this.pino.level = order.find((l) => wanted.includes(l)) ?? 'silent';
  }

  isEnabled(level: Level): boolean {
    return this.pino.isLevelEnabled(level);
  }

  /**
   * Nest calls `(message, ...params, context)`: the context (the name given to `new Logger()`)
   * comes last; `error` may put a stack before it. Objects among the params become fields.
   */
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = params.slice();
    const fields: Record<string, unknown> = {};
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') {
      fields.context = rest.pop();
    }
    for (const p of rest) {
      if (p === undefined || p === null) continue;
      if (p instanceof Error) fields.err = p;
      else if (typeof p === 'object') Object.assign(fields, p);
      else fields.stack = String(p);
    }
    let msg: string | undefined;
    if (message instanceof Error) {
      fields.err = message;
      msg = message.message;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(fields, message);
    } else {
      msg = String(message);
    }
    this.pino[level](fields, msg);
  }
}
