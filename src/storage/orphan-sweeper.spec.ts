import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type BlobBackend } from './backend.js';
import { type LocationRepository } from './location.repository.js';
import { sweepOrphans } from './orphan-sweeper.js';

function fakeBackend(objects: Record<string, number>): BlobBackend & { deleted: string[] } {
  const deleted: string[] = [];
  return {
    id: 'local',
    kind: 'fake',
    deleted,
    put: async () => ({ size: 0 }),
    probe: async () => undefined,
    openWriter: () => {
      throw new Error('not used by the sweeper');
    },
    close: async () => undefined,
    get: async () => Readable.from([]),
    head: async () => null,
    delete: async (key) => {
      deleted.push(key);
    },
    async *list() {
      for (const [key, mtime] of Object.entries(objects))
        yield { key, size: 1, modifiedAt: new Date(mtime) };
    },
  };
}

const catalogWith = (...keys: string[]) =>
  ({
    referenced: async (_b: string, asked: string[]) =>
      new Set(asked.filter((k) => keys.includes(k))),
  }) as unknown as LocationRepository;

describe('sweepOrphans', () => {
  it('removes unreferenced objects older than the grace period, and nothing else', async () => {
    const now = 1_000_000;
    const backend = fakeBackend({ 'a/kept': 0, 'b/orphan-old': 0, 'c/orphan-new': now - 10 });
    const removed = await sweepOrphans(backend, catalogWith('a/kept'), 1000, now);
    expect(removed).toBe(1);
    expect(backend.deleted).toEqual(['b/orphan-old']);
  });

  it('with no grace removes every unreferenced object', async () => {
    const backend = fakeBackend({ x: 5, y: 5 });
    expect(await sweepOrphans(backend, catalogWith(), 0, 5)).toBe(2);
  });

  it('asks the catalog in batches for large listings', async () => {
    const objects = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`k${i}`, 0]));
    const backend = fakeBackend(objects);
    let calls = 0;
    const repo = {
      referenced: async () => (calls++, new Set<string>()),
    } as unknown as LocationRepository;
    expect(await sweepOrphans(backend, repo, 0, 1)).toBe(2500);
    expect(calls).toBe(3);
  });
});
