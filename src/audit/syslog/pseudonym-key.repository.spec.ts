import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PseudonymKeyRepository } from './pseudonym-key.repository.js';

function keysDir(secret: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-pseudonym-'));
  writeFileSync(join(dir, 'dedup.secret'), secret.toString('base64'));
  return dir;
}

describe('syslog pseudonyms', () => {
  it('are a keyed hash: stable for one secret, different for another, never the ID', async () => {
    const secret = randomBytes(32);
    const a = await new PseudonymKeyRepository(keysDir(secret)).pseudonymizer();
    const again = await new PseudonymKeyRepository(keysDir(secret)).pseudonymizer();
    const other = await new PseudonymKeyRepository(keysDir(randomBytes(32))).pseudonymizer();
    expect(a('PID-42')).toMatch(/^PSEUDO-[0-9a-f]{32}$/);
    expect(a('PID-42')).toBe(again('PID-42'));
    expect(a('PID-42')).not.toBe(a('PID-43'));
    expect(a('PID-42')).not.toBe(other('PID-42'));
    expect(a('PID-42')).not.toContain('PID-42');
  });

  it('refuse to run without the archive secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-pseudonym-'));
    await expect(new PseudonymKeyRepository(dir).pseudonymizer()).rejects.toThrow();
  });
});
