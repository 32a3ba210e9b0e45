/**
 * Whether a local time of day falls in a window of minutes after midnight, [from, to), which may
 * wrap midnight ('22:00-06:00'). No window: any time.
 */
export function inWindow(window: { from: number; to: number } | null, at: Date): boolean {
  if (!window) return true;
  const minute = at.getHours() * 60 + at.getMinutes();
  return window.from < window.to
    ? minute >= window.from && minute < window.to
    : minute >= window.from || minute < window.to;
}
