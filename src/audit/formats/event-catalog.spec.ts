import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SWEEP_NAMES } from '../../config/index.js';
import { catalogEntryOf, EVENT_CATALOG, isCatalogued } from './event-catalog.js';

const SRC = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Every `action: '...'` the archive's code writes (and the sweeps' `lifecycle.${name}-sweep`). */
function actionsInUse(): Set<string> {
  const found = new Set<string>();
  for (const file of sources(SRC)) {
    if (file.includes(`${join('audit', 'formats')}`)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/\baction: '([a-z]+\.[a-z.-]+)'/g)) {
      found.add(m[1]!);
    }
  }
  for (const sweep of SWEEP_NAMES) found.add(`lifecycle.${sweep}-sweep`);
  return found;
}

describe('the action → DICOM event table', () => {
  it('names every action the archive records (add new ones to EVENT_CATALOG)', () => {
    const inUse = actionsInUse();
    expect(inUse.size).toBeGreaterThan(20);
    expect([...inUse].filter((a) => !isCatalogued(a))).toEqual([]);
  });

  it('gives each entry a DICOM event ID of CID 400 and, for Security Alerts, an event type', () => {
    for (const [action, e] of Object.entries(EVENT_CATALOG)) {
      expect(e.event.scheme, action).toBe('DCM');
      expect(Number(e.event.code), action).toBeGreaterThanOrEqual(110100);
      expect(Number(e.event.code), action).toBeLessThanOrEqual(110114);
      if (['110100', '110113', '110114'].includes(e.event.code)) {
        expect(e.types.length, action).toBeGreaterThan(0);
      }
    }
  });

  it('refines a stored instance by how it was stored', () => {
    const stored = (detail: Record<string, unknown>) =>
      catalogEntryOf({ action: 'instance.stored', detail });
    expect(stored({ outcome: 'stored' }).action).toBe('C');
    expect(stored({ outcome: 'new-version' }).action).toBe('U');
    expect(stored({ outcome: 'duplicate' }).action).toBe('R');
    expect(stored({ adapter: 'folder-import', outcome: 'stored' }).event.code).toBe('110107');
  });
});
