import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

/**
 * Configuration changes are audited: the first start records the configuration, a restart with
 * the same one records nothing, a start with another one records 'config.changed' naming what
 * changed, and the record never holds a secret.
 */
describe('configuration changes in the audit trail', () => {
  let s: TestStrata | undefined;
  afterAll(async () => {
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  const changes = async (databaseUrl: string) => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const events = await db.query<{ detail: { changed: string[]; version: string } }>(
        `SELECT detail FROM audit_events WHERE action = 'config.changed' ORDER BY seq`,
      );
      const stored = await db.query<{ config: string }>('SELECT config::text FROM config_versions');
      return { events: events.rows.map((r) => r.detail), stored: stored.rows.map((r) => r.config) };
    } finally {
      await db.end();
    }
  };

  it('records the first configuration, ignores a restart, names what a new one changed', async () => {
    const first = `fixity:\n  schedule: 'off'\n`;
    s = await startTestStrata({ configYaml: first });
    let seen = await changes(s.databaseUrl);
    expect(seen.events).toHaveLength(1);
    expect(seen.events[0]!.changed).toEqual(['(first start)']);

    s = await s.restart();
    expect((await changes(s.databaseUrl)).events).toHaveLength(1);

    const { dataDir, databaseUrl } = s;
    await s.stop();
    s = await startTestStrata({
      dataDir,
      databaseUrl,
      configYaml: `${first}dicom:\n  peers:\n    PACS: { host: 127.0.0.1, port: 104 }\n`,
      env: { STRATA_ADMIN_TOKEN: 'another-admin-token-0123456789abcdef' },
    });
    seen = await changes(s.databaseUrl);
    expect(seen.events).toHaveLength(2);
    expect(seen.events[1]!.changed).toEqual(
      expect.arrayContaining(['auth.adminToken', 'dicom.peers']),
    );
    // Secrets are recorded as digests only.
    for (const text of seen.stored) {
      expect(text).not.toContain('another-admin-token-0123456789abcdef');
      expect(text).not.toContain('test-passphrase-123');
    }
  });
});
