import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Non-empty files under `dir`, as sorted '/'-separated paths relative to it: the objects of a
 * filesystem backend, which are also its keys. Empty files are skipped: the backend keeps one
 * ready for the next object.
 */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (statSync(full, { throwIfNoEntry: false })?.size)
        out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}
