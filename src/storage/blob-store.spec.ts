import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlobBackend, type ObjectWriter } from './backend.js';
import { BlobStore } from './blob-store.service.js';
import { FilesystemBackend } from './filesystem.backend.js';
import { type KeyService } from './key.service.js';
import { OpenPgpRepository, type SessionKey } from './openpgp.repository.js';

const sessionKey: SessionKey = { data: randomBytes(32), algorithm: 'aes256', aeadAlgorithm: 'gcm' };
const keys = {
  forStudy: async () => sessionKey,
  existingForStudy: async () => sessionKey,
} as unknown as KeyService;
const secret = randomBytes(32);

/** A filesystem backend whose writers finish only when the test says so. */
class GatedBackend extends FilesystemBackend {
  release!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));

  override openWriter(key?: string): ObjectWriter {
    const writer = super.openWriter(key);
    return {
      key: writer.key,
      write: (pieces) => writer.write(pieces),
      abort: () => writer.abort(),
      finish: async () => {
        await this.gate;
        return writer.finish();
      },
    };
  }
}

describe('BlobStore', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'strata-blobs-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const storeOver = (backend: BlobBackend) =>
    new BlobStore(
      new Map([['local', backend]]),
      {
        hot: { backend: 'local', storageClass: null, restore: null },
        warm: { backend: 'local', storageClass: null, restore: null },
        cold: { backend: 'local', storageClass: null, restore: null },
      },
      new OpenPgpRepository(),
      keys,
      secret,
    );

  it('stage() answers once the bytes are in; durable settles when the backend finished', async () => {
    const backend = new GatedBackend('local', root);
    await backend.init();
    const store = storeOver(backend);
    const plain = randomBytes(300_000);
    const staged = await store.stage(
      '1.2.3',
      Readable.from([plain.subarray(0, 1000), plain.subarray(1000)]),
    );
    expect(staged.blob.size).toBe(plain.length);
    expect(staged.blob.digest).toEqual(createHmac('sha256', secret).update(plain).digest());
    let durable = false;
    void staged.durable.then(() => (durable = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(durable).toBe(false);
    backend.release();
    await staged.durable;
    expect(existsSync(join(root, staged.blob.location.key))).toBe(true);
    const back = await store.openPlaintext(staged.blob.location, '1.2.3');
    const chunks: Buffer[] = [];
    for await (const c of back) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(plain)).toBe(true);
  });

  it('a source that fails leaves nothing behind', async () => {
    const backend = new FilesystemBackend('local', root);
    await backend.init();
    const store = storeOver(backend);
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(store.write('1.2.3', failing)).rejects.toThrow(/connection reset/);
    // Only the empty file made in advance for the next object may remain.
    const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter(
      (e) => e.isFile() && statSync(join(e.parentPath, e.name)).size > 0,
    );
    expect(files).toEqual([]);
  });
});
