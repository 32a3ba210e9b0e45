/** Fields the text form leaves out or shows in its fixed part. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'context', 'msg', 'err', 'stack']);

/**
 * STRATA_LOG_FORMAT=text: pino's JSON line as one line for a person at a terminal,
 * `time LEVEL [context] message key=value ...`, with a stack (if any) on the lines after.
 */
export function textLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = String(o.level ?? '').toUpperCase();
  const context = typeof o.context === 'string' ? ` [${o.context}]` : '';
  const extra = Object.entries(o)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('');
  const err = o.err as { stack?: string; message?: string } | undefined;
  const stack = err?.stack ?? (typeof o.stack === 'string' ? o.stack : undefined);
  return `${String(o.time ?? '')} ${level.padEnd(5)}${context} ${String(o.msg ?? err?.message ?? '')}${extra}\n${stack ? `${stack}\n` : ''}`;
}
