import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as openpgp from 'openpgp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { cli } from '../support/cli.js';
import { buildServer, removeServerBuild, startChild } from '../support/crash-child.js';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createTestBucket, testS3Client } from '../support/s3.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, testEnv } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { expectBackendsMatchLocations, threeTierYaml } from '../support/tiers.js';
import pg from 'pg';

const CT = '1.2.840.10008.5.1.4.1.1.2';

describe('the strata CLI: tier move, fsck, export, and the embedded database of a running server', () => {
  let dataDir: string;
  let databaseUrl: string;
  let bucket: string;
  let env: Record<string, string>;
  const study = newUid();
  let instances: ReturnType<typeof makeInstance>[];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-cli-tier-'));
    databaseUrl = await createTestDatabase();
    bucket = await createTestBucket();
    writeFileSync(join(dataDir, 'strata.config.yaml'), threeTierYaml(dataDir, bucket));
    env = testEnv(dataDir, databaseUrl, { STRATA_CONFIG: join(dataDir, 'strata.config.yaml') });
    const s = await startTestStrata({
      dataDir,
      databaseUrl,
      configYaml: threeTierYaml(dataDir, bucket),
    });
    instances = [0, 1, 2].map(() => makeInstance({ studyInstanceUid: study, sopClassUid: CT }));
    expect(
      (
        await stow(
          s.httpUrl,
          s.auth,
          instances.map((i) => i.part10),
        )
      ).status,
    ).toBe(200);
    await s.stop();
    await buildServer();
  }, 240_000);
  afterAll(() => {
    removeServerBuild();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('moves the study, reports it, and exits 0', async () => {
    const r = await cli(['tier', 'move', '--study', study, '--to', 'warm'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/moved 3 object\(s\), [0-9.]+ MB, to warm/);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const tiers = await db.query('SELECT DISTINCT tier FROM locations');
      expect(tiers.rows).toEqual([{ tier: 'warm' }]);
      await expectBackendsMatchLocations(async (t) => (await db.query(t)).rows, dataDir, bucket);
      const audit = await db.query(
        `SELECT actor, outcome FROM audit_events WHERE action = 'study.moved' ORDER BY seq DESC LIMIT 1`,
      );
      expect(audit.rows[0]).toMatchObject({ outcome: 'success' });
      expect(audit.rows[0].actor).toMatch(/^cli:/);
    } finally {
      await db.end();
    }
  });

  it('strata export writes self-contained OpenPGP messages and plain DICOM files, with digests', async () => {
    for (const format of ['pgp', 'dcm'] as const) {
      const out = join(dataDir, `export-${format}`);
      const r = await cli(['export', '--study', study, '--format', format, '--out', out], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/exported 3 of 3 instance\(s\)/);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
        files: { file: string; sopInstanceUid: string; sha256: string }[];
      };
      expect(manifest.files).toHaveLength(3);
      const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
      for (const f of manifest.files) {
        const bytes = readFileSync(join(out, f.file));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
        expect(sums).toContain(`${f.sha256}  ${f.file}`);
        const original = instances.find((i) => i.sopInstanceUid === f.sopInstanceUid)!;
        let part10 = bytes;
        if (format === 'pgp') {
          // Only the private key and its passphrase are needed: a standard OpenPGP message.
          const privateKey = await openpgp.decryptKey({
            privateKey: await openpgp.readPrivateKey({
              armoredKey: readFileSync(join(dataDir, 'keys', 'archive.private.asc'), 'utf8'),
            }),
            passphrase: env.STRATA_KEY_PASSPHRASE!,
          });
          const { data } = await openpgp.decrypt({
            message: await openpgp.readMessage({ binaryMessage: bytes }),
            decryptionKeys: privateKey,
            format: 'binary',
          });
          part10 = Buffer.from(data as Uint8Array);
        }
        expect(part10.subarray(128, 132).toString('latin1')).toBe('DICM');
        expect(
          part10.subarray(part10.length - original.dataset.length).equals(original.dataset),
        ).toBe(true);
      }
    }
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const audit = await db.query(
        `SELECT outcome, instances FROM audit_events WHERE action = 'study.exported' ORDER BY seq`,
      );
      expect(audit.rows).toEqual([
        { outcome: 'success', instances: 3 },
        { outcome: 'success', instances: 3 },
      ]);
    } finally {
      await db.end();
    }
  });

  it('strata fsck checks every copy and exits 0 when all are good, 1 when one is lost or replaced', async () => {
    const good = await cli(['fsck', '--include-cold'], env);
    expect(good.code, good.stderr).toBe(0);
    // The study is on warm (s3rver): each copy's ETag was confirmed when it was moved there, so a
    // HEAD request checks it, without reading.
    expect(good.stdout).toMatch(
      /3 checked \(3 by the server's checksum\), 3 good, 0 missing, 0 corrupt/,
    );
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // Behind the archive's back, lose one copy (warm, on S3) and replace another with other bytes
      // of the same size: nothing to repair them from.
      const { rows } = await db.query<{ key: string; stored_size: string }>(
        `SELECT key, stored_size FROM locations ORDER BY id LIMIT 2`,
      );
      await testS3Client().send(new DeleteObjectCommand({ Bucket: bucket, Key: rows[0]!.key }));
      await testS3Client().send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: rows[1]!.key,
          Body: randomBytes(Number(rows[1]!.stored_size)),
        }),
      );
    } finally {
      await db.end();
    }
    const bad = await cli(['fsck', '--tier', 'warm'], env);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /3 checked \(3 by the server's checksum\), 1 good, 1 missing, 1 corrupt, 0 repaired, 2 with no good copy left/,
    );
    // --deep reads and decrypts each copy instead, and finds the same.
    const deep = await cli(['fsck', '--tier', 'warm', '--deep'], env);
    expect(deep.code).toBe(1);
    expect(deep.stdout).toMatch(
      /3 checked \(0 by the server's checksum\), 1 good, 1 missing, 1 corrupt, 0 repaired, 2 with no good copy left/,
    );
    expect((await cli(['fsck', '--sample', '0%'], env)).code).toBe(2);
  });

  it('strata export of a study with a lost copy: exits 1, names it, leaves no partial file', async () => {
    // The previous test deleted one warm copy and replaced another behind the archive's back.
    const out = join(dataDir, 'export-broken');
    const r = await cli(['export', '--study', study, '--format', 'dcm', '--out', out], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not exported: /);
    expect(r.stdout).toMatch(/exported 1 of 3 instance\(s\)/);
    const written = readdirSync(out, { recursive: true }).map(String);
    expect(written.filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(written.filter((f) => f.endsWith('.dcm'))).toHaveLength(1);
  });

  it('usage errors exit 2 and say what is wrong; an unknown study exits 1', async () => {
    const bad = await cli(['tier', 'move', '--study', study, '--to', 'lukewarm'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--to needs one of hot, warm, cold/);
    const noStudy = await cli(['tier', 'move', '--to', 'cold'], env);
    expect(noStudy.code).toBe(2);
    const unknown = await cli(['tier', 'move', '--study', '1.2.3.4.5', '--to', 'cold'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not in the archive/);
  });

  it('never stops the embedded PostgreSQL of a running server: it refuses, naming the server', async () => {
    const embeddedDir = mkdtempSync(join(tmpdir(), 'strata-cli-embedded-'));
    const server = await startChild(embeddedDir, '', { env: { DATABASE_URL: undefined } });
    try {
      const r = await cli(['migrate'], {
        STRATA_DATA_DIR: embeddedDir,
        STRATA_KEY_PASSPHRASE: 'test-passphrase-123',
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/in use by a running Strata \(pid \d+\)/);
      const health = await fetch(`${server.httpUrl}/health`);
      expect(health.status).toBe(200);
    } finally {
      await server.stop();
      rmSync(embeddedDir, { recursive: true, force: true });
    }
  }, 180_000);
});
