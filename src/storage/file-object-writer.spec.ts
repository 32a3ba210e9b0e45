import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemBackend } from './filesystem.backend.js';

describe('FilesystemBackend.openWriter', () => {
  let root: string;
  let backend: FilesystemBackend;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'strata-writer-'));
    backend = new FilesystemBackend('local', root);
    await backend.init();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const temps = () => readdirSync(join(root, '.tmp'));

  it('puts the pieces, in order, at the key only when finished', async () => {
    const writer = backend.openWriter('ab/cd/object.pgp');
    expect(writer.write([Buffer.from('hello '), Buffer.alloc(0)])).toBeUndefined();
    writer.write([Buffer.from('world')]);
    expect(await backend.head('ab/cd/object.pgp')).toBeNull();
    expect(await writer.finish()).toEqual({ size: 11 });
    expect(readFileSync(join(root, 'ab/cd/object.pgp'), 'utf8')).toBe('hello world');
    expect(temps()).toEqual([]);
  });

  it('asks the caller to wait when much is queued, and still writes everything', async () => {
    const writer = backend.openWriter('ef/01/big.pgp');
    const piece = Buffer.alloc(1024 * 1024, 7);
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const wait = writer.write([piece]);
      if (wait) waits.push(wait);
    }
    expect(waits.length).toBeGreaterThan(0);
    await Promise.all(waits);
    expect(await writer.finish()).toEqual({ size: 8 * 1024 * 1024 });
    expect(readFileSync(join(root, 'ef/01/big.pgp')).length).toBe(8 * 1024 * 1024);
  });

  it('abort leaves nothing, at the key or in .tmp, and is idempotent', async () => {
    const writer = backend.openWriter('12/34/gone.pgp');
    writer.write([Buffer.from('partial')]);
    await writer.abort();
    await writer.abort();
    expect(await backend.head('12/34/gone.pgp')).toBeNull();
    expect(temps()).toEqual([]);
    expect(() => writer.write([Buffer.from('more')])).toThrow(/aborted/);
    await expect(writer.finish()).rejects.toThrow(/aborted/);
  });

  it('recreates a shard folder removed behind its back', async () => {
    const first = backend.openWriter('aa/bb/one.pgp');
    first.write([Buffer.from('1')]);
    await first.finish();
    rmSync(join(root, 'aa'), { recursive: true });
    const second = backend.openWriter('aa/bb/two.pgp');
    second.write([Buffer.from('2')]);
    await second.finish();
    expect(readFileSync(join(root, 'aa/bb/two.pgp'), 'utf8')).toBe('2');
  });

  it('put() streams through the same writer', async () => {
    const { Readable } = await import('node:stream');
    const { size } = await backend.put('cc/dd/put.pgp', Readable.from([Buffer.from('abc')]));
    expect(size).toBe(3);
    expect(readFileSync(join(root, 'cc/dd/put.pgp'), 'utf8')).toBe('abc');
  });

  it('rejects keys that would leave the root', () => {
    expect(() => backend.openWriter('../escape.pgp')).toThrow(/invalid object key/);
  });
});
