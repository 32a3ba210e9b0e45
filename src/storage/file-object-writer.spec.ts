import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

  it('puts the pieces, in order, at the key, with no temp file', async () => {
    const writer = backend.openWriter('ab/cd/object.pgp');
    expect(writer.write([Buffer.from('hello '), Buffer.alloc(0)])).toBeUndefined();
    writer.write([Buffer.from('world')]);
    expect(await writer.finish()).toEqual({ size: 11, confirmed: true });
    expect(readFileSync(join(root, 'ab/cd/object.pgp'), 'utf8')).toBe('hello world');
    expect(temps()).toEqual([]);
  });

  it('never overwrites an existing key', async () => {
    const first = backend.openWriter('ab/cd/taken.pgp');
    first.write([Buffer.from('first')]);
    await first.finish();
    const second = backend.openWriter('ab/cd/taken.pgp');
    second.write([Buffer.from('second')]);
    await expect(second.finish()).rejects.toThrow(/EEXIST/);
    await second.abort();
    expect(readFileSync(join(root, 'ab/cd/taken.pgp'), 'utf8')).toBe('first');
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
    expect(await writer.finish()).toEqual({ size: 8 * 1024 * 1024, confirmed: true });
    expect(readFileSync(join(root, 'ef/01/big.pgp')).length).toBe(8 * 1024 * 1024);
  });

  it('abort removes what it wrote, and is idempotent', async () => {
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

  it('without a key, picks a new random one and has the next file ready', async () => {
    const a = backend.openWriter();
    const b = backend.openWriter();
    expect(a.key).toMatch(/^[0-9a-f]{3}\/[0-9a-f]{32}\.pgp$/);
    expect(a.key.slice(0, 3)).toBe(a.key.slice(4, 7));
    expect(b.key).not.toBe(a.key);
    a.write([Buffer.from('a')]);
    b.write([Buffer.from('b')]);
    await Promise.all([a.finish(), b.finish()]);
    expect(readFileSync(join(root, a.key), 'utf8')).toBe('a');
    // The file made in advance for the next object is there, empty; close() removes it.
    const empty = () =>
      readdirSync(root, { recursive: true, withFileTypes: true }).filter(
        (e) =>
          e.isFile() && e.name.endsWith('.pgp') && statSync(join(e.parentPath, e.name)).size === 0,
      );
    await new Promise((r) => setTimeout(r, 50));
    expect(empty()).toHaveLength(1);
    await backend.close();
    expect(empty()).toHaveLength(0);
  });

  it('fails, rather than lose the bytes, when its file was removed while being written', async () => {
    const writer = backend.openWriter();
    writer.write([Buffer.from('doomed')]);
    await new Promise((r) => setTimeout(r, 50));
    rmSync(join(root, writer.key));
    await expect(writer.finish()).rejects.toThrow(/removed while being written/);
  });
});
