import { createHash } from 'node:crypto';

/** Keys whose values are secrets: kept out of the record, only a digest of them goes in. */
const SECRET_KEY = /secret|password|passphrase|token|authorization|credential/i;

/**
 * The configuration as recorded: keys sorted (so the same configuration always gives the same
 * text), each secret replaced by a digest, so a changed password is still a change but is never
 * written down.
 */
export function recordableConfig(value: unknown, key = ''): unknown {
  if (value === null || value === undefined) return null;
  if (SECRET_KEY.test(key) && typeof value !== 'object') {
    return `sha256:${createHash('sha256').update(String(value)).digest('hex').slice(0, 16)}`;
  }
  if (Array.isArray(value)) return value.map((v) => recordableConfig(v));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, recordableConfig((value as Record<string, unknown>)[k], k)]),
    );
  }
  return value;
}

/** The version of a recordable configuration: a digest of its text. */
export function configVersion(recordable: unknown): string {
  return createHash('sha256').update(JSON.stringify(recordable)).digest('hex').slice(0, 32);
}

/** Top-level sections (and their direct keys) that differ between two recordable configurations. */
export function changedSections(before: unknown, after: unknown): string[] {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = (after ?? {}) as Record<string, unknown>;
  const out: string[] = [];
  for (const section of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[section];
    const y = b[section];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x)) {
      const xs = x as Record<string, unknown>;
      const ys = y as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(xs), ...Object.keys(ys)])].sort()) {
        if (JSON.stringify(xs[k]) !== JSON.stringify(ys[k])) out.push(`${section}.${k}`);
      }
    } else {
      out.push(section);
    }
  }
  return out;
}
