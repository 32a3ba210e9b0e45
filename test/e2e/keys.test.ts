import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { cli } from '../support/cli.js';
import { buildServer, removeServerBuild } from '../support/crash-child.js';
import { filesUnder } from '../support/object-files.js';
import { startTestStrata, type TestStrata, testEnv } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
/** Studies whose key rows are copies of a real one: enough for several re-wrap batches (500). */
const SYNTHETIC_STUDIES = 1200;

type Instance = ReturnType<typeof makeInstance>;

describe('strata keys: rotation, escrow recipients and retiring keys, as catalog updates', () => {
  let dataDir: string;
  let databaseUrl: string;
  let env: Record<string, string>;
  let strata: TestStrata;
  let db: pg.Client;
  /** Real studies, two instances each; the last one is never read before the old key is retired. */
  const studies: Instance[][] = [];
  let allStudies = 0;
  let firstKey: string;

  const archiveKeys = async () =>
    (
      await db.query<{ fingerprint: string; status: string }>(
        `SELECT fingerprint, status FROM key_recipients WHERE role = 'archive' ORDER BY created_at`,
      )
    ).rows;
  const studiesWrappedFor = async (fingerprint: string) =>
    (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM study_keys WHERE recipient_fingerprint = $1`,
        [fingerprint],
      )
    ).rows[0]!.n;
  const job = async (id: string) =>
    (
      await db.query<{
        status: string;
        done: number;
        total: number;
        result: Record<string, number>;
      }>('SELECT status, done, total, result FROM jobs WHERE id = $1', [id])
    ).rows[0]!;
  /** Every object file with its size and modification time: rotation must not touch one. */
  const objectsSnapshot = () =>
    filesUnder(join(dataDir, 'objects')).map((f) => {
      const s = statSync(join(dataDir, 'objects', f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-keys-'));
    databaseUrl = await createTestDatabase();
    env = testEnv(dataDir, databaseUrl);
    const built = buildServer();
    strata = await startTestStrata({ dataDir, databaseUrl });
    for (let s = 0; s < 7; s++) {
      const study = newUid();
      studies.push([0, 1].map(() => makeInstance({ studyInstanceUid: study, sopClassUid: CT })));
    }
    await stowAll(
      strata.httpUrl,
      strata.auth,
      studies.flat().map((i) => i.part10),
    );
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    // Synthetic studies with a copy of a real study's wrapped key: the scan must page through them.
    await db.query(
      `INSERT INTO study_keys (study_instance_uid, recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm)
       SELECT '2.25.' || n, k.recipient_fingerprint, k.pkesk, k.cipher_algorithm, k.aead_algorithm
         FROM generate_series(1, $2::int) n, study_keys k WHERE k.study_instance_uid = $1`,
      [studies[0]![0]!.studyInstanceUid, SYNTHETIC_STUDIES],
    );
    allStudies = studies.length + SYNTHETIC_STUDIES;
    firstKey = (await archiveKeys())[0]!.fingerprint;
    await built;
  }, 240_000);

  afterAll(async () => {
    await db?.end();
    await strata?.stop();
    removeServerBuild();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a rotation killed after its first batch resumes from its cursor, with no second new key', async () => {
    const killed = await cli(['keys', 'rotate'], { ...env, STRATA_TEST_FAILPOINT: 'keys:batch' });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const newKey = /new archive key ([0-9a-f]{40,64})/.exec(killed.stdout)![1]!;
    const jobId = /job (\d+)/.exec(killed.stdout)![1]!;
    const interrupted = await job(jobId);
    expect(interrupted.status).toBe('running');
    expect(interrupted.done).toBe(500);
    expect(interrupted.result.cursor).toBeTruthy();
    expect(await studiesWrappedFor(newKey)).toBe(500);

    const resumed = await cli(['keys', 'rotate'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`an interrupted re-wrap (job ${jobId}) is finished first`);
    expect(resumed.stdout).toContain(`job ${jobId}: ${allStudies} studies checked`);
    const done = await job(jobId);
    expect(done.status).toBe('done');
    expect(done.result.studies).toBe(allStudies);
    expect(done.result.added).toBe(allStudies);
    expect((await archiveKeys()).map((k) => k.fingerprint)).toEqual([firstKey, newKey]);
    expect(await studiesWrappedFor(newKey)).toBe(allStudies);
    expect(await studiesWrappedFor(firstKey)).toBe(allStudies);
  }, 120_000);

  it('rotates while a reader retrieves studies; every read succeeds and no object is rewritten', async () => {
    const before = objectsSnapshot();
    const readable = studies.slice(0, -1).flat();
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const i = readable[reads % readable.length]!;
        expect((await retrieveDataset(strata.httpUrl, strata.auth, i)).equals(i.dataset)).toBe(
          true,
        );
        reads++;
      }
    })();
    const r = await cli(['keys', 'rotate'], env);
    stop = true;
    await reader;
    expect(r.code, r.stderr).toBe(0);
    expect(reads).toBeGreaterThan(readable.length);
    const newKey = /new archive key ([0-9a-f]{40,64})/.exec(r.stdout)![1]!;
    expect(await studiesWrappedFor(newKey)).toBe(allStudies);
    expect(objectsSnapshot()).toEqual(before);

    // The API shows the ring and the job; the running server picked up the new key for new studies.
    const status = await callApi(strata, 'GET', '/api/keys');
    expect(status.status).toBe(200);
    const recipients = status.body.recipients as {
      fingerprint: string;
      current: boolean;
      studies: number;
    }[];
    expect(recipients.filter((k) => k.current).map((k) => k.fingerprint)).toEqual([newKey]);
    expect(recipients.every((k) => k.studies === allStudies)).toBe(true);
    const rewrap = status.body.rewrapJob as {
      id: string;
      status: string;
      done: number;
      total: number;
    };
    expect(rewrap).toMatchObject({ status: 'done', done: allStudies, total: allStudies });
    expect((await callApi(strata, 'GET', `/api/jobs/${rewrap.id}`)).body.status).toBe('done');

    const fresh = makeInstance({ studyInstanceUid: newUid(), sopClassUid: CT });
    await stowAll(strata.httpUrl, strata.auth, [fresh.part10]);
    const rows = await db.query<{ recipient_fingerprint: string }>(
      'SELECT recipient_fingerprint FROM study_keys WHERE study_instance_uid = $1',
      [fresh.studyInstanceUid],
    );
    expect(rows.rows.map((x) => x.recipient_fingerprint)).toContain(newKey);
    studies.push([fresh]);
    allStudies++;
  }, 120_000);

  it('an escrow key added with add-recipient opens every exported object on its own', async () => {
    const escrow = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'Escrow officer' }],
      format: 'object',
    });
    // Given its private key file by mistake: only the public half is kept, with a warning.
    const keyFile = join(dataDir, 'escrow.asc');
    writeFileSync(keyFile, escrow.privateKey.armor());
    const r = await cli(['keys', 'add-recipient', keyFile], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('holds a private key: only its public half was kept');
    const fingerprint = escrow.privateKey.getFingerprint();
    expect(r.stdout).toContain(`added the escrow key ${fingerprint}`);
    expect(await studiesWrappedFor(fingerprint)).toBe(allStudies);
    const stored = await db.query<{ public_key: string }>(
      'SELECT public_key FROM key_recipients WHERE fingerprint = $1',
      [fingerprint],
    );
    expect(stored.rows[0]!.public_key).toContain('PUBLIC KEY BLOCK');
    expect(stored.rows[0]!.public_key).not.toContain('PRIVATE');

    const study = studies[1]!;
    const out = join(dataDir, 'escrow-export');
    const exported = await cli(
      ['export', '--study', study[0]!.studyInstanceUid, '--format', 'pgp', '--out', out],
      env,
    );
    expect(exported.code, exported.stderr).toBe(0);
    const files = filesUnder(out).filter((f) => f.endsWith('.pgp'));
    expect(files).toHaveLength(2);
    for (const f of files) {
      const { data } = await openpgp.decrypt({
        message: await openpgp.readMessage({ binaryMessage: readFileSync(join(out, f)) }),
        decryptionKeys: escrow.privateKey,
        format: 'binary',
      });
      const part10 = Buffer.from(data as Uint8Array);
      expect(
        study.some((i) => part10.subarray(part10.length - i.dataset.length).equals(i.dataset)),
      ).toBe(true);
    }

    // A new study's key is wrapped for the escrow key too.
    const fresh = makeInstance({ studyInstanceUid: newUid(), sopClassUid: CT });
    await stowAll(strata.httpUrl, strata.auth, [fresh.part10]);
    const rows = await db.query(
      'SELECT 1 FROM study_keys WHERE study_instance_uid = $1 AND recipient_fingerprint = $2',
      [fresh.studyInstanceUid, fingerprint],
    );
    expect(rows.rowCount).toBe(1);
    studies.push([fresh]);
    allStudies++;
  }, 120_000);

  it('refuses unusable recipient keys with a clear message', async () => {
    const missing = await cli(['keys', 'add-recipient', join(dataDir, 'nope.asc')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const garbage = join(dataDir, 'garbage.asc');
    writeFileSync(
      garbage,
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n',
    );
    const bad = await cli(['keys', 'add-recipient', garbage], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('not an armored OpenPGP key');
    const rsa = await openpgp.generateKey({
      type: 'rsa',
      rsaBits: 2048,
      userIDs: [{ name: 'Old escrow' }],
      format: 'armored',
    });
    const rsaFile = join(dataDir, 'rsa.asc');
    writeFileSync(rsaFile, rsa.publicKey);
    const refused = await cli(['keys', 'add-recipient', rsaFile], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('X25519 or X448 keys only');
    const api = await callApi(strata, 'POST', '/api/keys/recipients', { publicKey: rsa.publicKey });
    expect(api.status).toBe(400);
    expect(api.body.detail).toContain('X25519 or X448 keys only');
    expect((await cli(['keys', 'rotate', 'extra'], env)).code).toBe(2);
    expect((await cli(['keys', 'shred'], env)).code).toBe(2);
    expect((await cli(['keys', 'retire'], env)).code).toBe(2);
    const unauthenticated = await fetch(`${strata.httpUrl}/api/keys`);
    expect(unauthenticated.status).toBe(401);
  }, 120_000);

  it('retires the old archive key only once every study opens with another, and reads go on', async () => {
    const [, second, third] = (await archiveKeys()).map((k) => k.fingerprint);
    const current = await cli(['keys', 'retire', third!], env);
    expect(current.code).toBe(1);
    expect(current.stderr).toContain('is the current archive key');
    const viaApi = await callApi(strata, 'DELETE', `/api/keys/${third}`);
    expect(viaApi.status).toBe(409);

    // A study wrapped only for the first key (as if made by a node that missed the rotations).
    await db.query(
      `INSERT INTO study_keys (study_instance_uid, recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm)
       SELECT '2.25.999999', recipient_fingerprint, pkesk, cipher_algorithm, aead_algorithm
         FROM study_keys WHERE study_instance_uid = $1 AND recipient_fingerprint = $2`,
      [studies[0]![0]!.studyInstanceUid, firstKey],
    );
    const refused = await cli(['keys', 'retire', firstKey.slice(-16)], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('1 studies are wrapped for no other active archive key');
    const finish = await cli(['keys', 'rotate', '--resume'], env);
    expect(finish.code, finish.stderr).toBe(0);
    expect((await archiveKeys()).length).toBe(3);

    for (const fingerprint of [firstKey, second!]) {
      const r = await cli(['keys', 'retire', fingerprint.slice(-16)], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`retired ${fingerprint}: \\d+ wrapped session keys removed`),
      );
      expect(await studiesWrappedFor(fingerprint)).toBe(0);
    }
    expect((await archiveKeys()).map((k) => k.status)).toEqual(['retired', 'retired', 'active']);
    expect(
      readdirSync(join(dataDir, 'keys', 'retired')).filter((f) => f.endsWith('.private.asc')),
    ).toHaveLength(2);

    // The server started with the first key only; a study it never read opens with the new key,
    // which it finds in the key folder.
    for (const i of studies[studies.length - 3]!) {
      expect((await retrieveDataset(strata.httpUrl, strata.auth, i)).equals(i.dataset)).toBe(true);
    }
    // And after a restart, with the first key's file gone from the folder.
    strata = await strata.restart();
    for (const i of studies[0]!) {
      expect((await retrieveDataset(strata.httpUrl, strata.auth, i)).equals(i.dataset)).toBe(true);
    }

    const audit = await db.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_events WHERE action LIKE 'key.%' GROUP BY action ORDER BY action`,
    );
    expect(audit.rows).toEqual([
      { action: 'key.recipient-added', n: 4 },
      { action: 'key.retired', n: 2 },
      { action: 'key.rewrapped', n: 4 },
    ]);
  }, 180_000);

  it('rotates through the API too, and shows the job there', async () => {
    const before = (await archiveKeys()).length;
    const r = await callApi(strata, 'POST', '/api/keys/rotate');
    expect(r.status).toBe(202);
    const id = (r.body.job as { id: string }).id;
    expect(await waitForJob(strata, id)).toMatchObject({ status: 'done', error: null });
    expect((await archiveKeys()).length).toBe(before + 1);
    expect(await studiesWrappedFor(r.body.fingerprint as string)).toBe(allStudies + 1);
  }, 120_000);

  it('an escrow key newly listed in the config file is registered at start and every study re-wrapped', async () => {
    const escrow = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'Config escrow' }],
      format: 'object',
    });
    const keyFile = join(dataDir, 'config-escrow.pub.asc');
    writeFileSync(keyFile, escrow.publicKey.armor());
    await strata.stop();
    strata = await startTestStrata({
      dataDir,
      databaseUrl,
      configYaml: `keys:\n  extraRecipientFiles: ['${keyFile}']\n`,
    });
    const fingerprint = escrow.publicKey.getFingerprint();
    let rewrap: { status: string; params: { reason: string } } | undefined;
    for (let n = 0; n < 200; n++) {
      rewrap = (await callApi(strata, 'GET', '/api/keys')).body.rewrapJob as typeof rewrap;
      if (rewrap?.params.reason === 'registered' && rewrap.status === 'done') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rewrap).toMatchObject({ status: 'done', params: { reason: 'registered' } });
    expect(await studiesWrappedFor(fingerprint)).toBe(allStudies + 1);
    const [row] = (
      await db.query<{ role: string; status: string }>(
        'SELECT role, status FROM key_recipients WHERE fingerprint = $1',
        [fingerprint],
      )
    ).rows;
    expect(row).toEqual({ role: 'escrow', status: 'active' });
  }, 120_000);
});
