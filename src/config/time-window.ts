import { ConfigError } from './config-error.js';

/** Hours of the day, in minutes after local midnight: [from, to), which may wrap midnight. */
export interface TimeWindow {
  from: number;
  to: number;
}

/**
 * Parses a window such as '22:00-06:00' (local time, may wrap midnight); undefined or 'any' is
 * no window. `where` names the config key in the error.
 */
export function parseTimeWindow(where: string, text: string | undefined): TimeWindow | null {
  if (text === undefined || text === 'any') return null;
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (!m) {
    throw new ConfigError(`config file: ${where}: '${text}' is not a window such as '22:00-06:00'`);
  }
  const from = Number(m[1]) * 60 + Number(m[2]);
  const to = Number(m[3]) * 60 + Number(m[4]);
  if (from === to) throw new ConfigError(`config file: ${where}: the window is empty`);
  return { from, to };
}

/** Whether a local time of day falls in a window. No window: any time. */
export function inWindow(window: TimeWindow | null, at: Date): boolean {
  if (!window) return true;
  const minute = at.getHours() * 60 + at.getMinutes();
  return window.from < window.to
    ? minute >= window.from && minute < window.to
    : minute >= window.from || minute < window.to;
}
