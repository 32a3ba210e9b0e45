import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import {
  buildServer,
  type ChildStrata,
  killAllChildren,
  removeServerBuild,
  startChild,
} from '../support/crash-child.js';
import { startFaultyProxy } from '../support/faulty-proxy.js';
import { createTestBucket, s3Endpoint } from '../support/s3.js';
import { stow } from '../support/stow-client.js';
import { TEST_TOKEN } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { expectBackendsMatchLocations, threeTierYaml } from '../support/tiers.js';
import { retrieveDataset } from '../support/wado-client.js';

const AUTH = `Bearer ${TEST_TOKEN}`;
const CT = '1.2.840.10008.5.1.4.1.1.2';

/**
 * kill -9 of the server at every step of a tier move (STRATA_TEST_FAILPOINT kills it right after
 * the step commits), then a restart: the job resumes and ends with every instance readable byte
 * for byte, each object in exactly one place on the target tier, and no object left anywhere that
 * no location points at.
 */
describe('a tier move killed at every journal step resumes at the restart', () => {
  const dirs: string[] = [];
  const proxies: (Awaited<ReturnType<typeof startFaultyProxy>> | null)[] = [];
  beforeAll(() => buildServer(), 240_000);
  afterAll(async () => {
    await killAllChildren();
    removeServerBuild();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const p of proxies) await p?.close();
  });

  // A verified copy goes from planned to removed (new location added, old ones removed) in one
  // commit: to warm (s3rver) it is verified by the server's ETag, to cold (a folder) by fdatasync
  // and the file's size. Through a proxy that answers ETags that are not MD5s (as with SSE-KMS),
  // the warm copy is read back to be verified, after a 'copied' step of its own.
  it.each([
    ['planned', 'warm', false],
    ['copied', 'warm', true],
    ['removed', 'warm', false],
    ['removed', 'cold', false],
    ['done', 'warm', false],
  ])(
    'killed after "%s", moving to %s (opaque ETags: %s)',
    async (step, target, opaqueEtags) => {
      const dataDir = mkdtempSync(join(tmpdir(), `strata-move-crash-${step}-`));
      dirs.push(dataDir);
      const databaseUrl = await createTestDatabase();
      const bucket = await createTestBucket();
      const proxy = opaqueEtags
        ? await startFaultyProxy(s3Endpoint(), () => null, { opaqueEtags: true })
        : null;
      proxies.push(proxy);
      const configYaml = threeTierYaml(dataDir, bucket, proxy?.endpoint);
      const db = new pg.Client({ connectionString: databaseUrl });
      let server: ChildStrata = await startChild(dataDir, databaseUrl, {
        configYaml,
        env: { STRATA_TEST_FAILPOINT: `move:${step}` },
      });
      await db.connect();
      try {
        const study = newUid();
        const instances = [0, 1, 2].map(() =>
          makeInstance({ studyInstanceUid: study, sopClassUid: CT, pixelBytes: 300_000 }),
        );
        expect(
          (
            await stow(
              server.httpUrl,
              AUTH,
              instances.map((i) => i.part10),
            )
          ).status,
        ).toBe(200);
        const res = await fetch(`${server.httpUrl}/api/studies/${study}/move`, {
          method: 'POST',
          headers: { authorization: AUTH, 'content-type': 'application/json' },
          body: JSON.stringify({ tier: target }),
        });
        expect(res.status).toBe(202);
        const { id } = (await res.json()) as { id: string };
        // The failpoint kills the server during the job.
        await new Promise<void>((done) => {
          if (server.proc.exitCode !== null || server.proc.signalCode !== null) done();
          else server.proc.once('exit', () => done());
        });
        expect(server.proc.signalCode).toBe('SIGKILL');

        server = await startChild(dataDir, databaseUrl, { configYaml });
        let job: { status: string; error: string | null } = { status: '', error: null };
        for (let n = 0; n < 600 && job.status !== 'done' && job.status !== 'failed'; n++) {
          await new Promise((r) => setTimeout(r, 50));
          job = (await (
            await fetch(`${server.httpUrl}/api/jobs/${id}`, { headers: { authorization: AUTH } })
          ).json()) as typeof job;
        }
        expect(job).toMatchObject({ status: 'done', error: null });
        const tiers = await db.query<{ tier: string; n: number }>(
          'SELECT tier, count(*)::int AS n FROM locations GROUP BY tier',
        );
        expect(tiers.rows).toEqual([{ tier: target, n: 3 }]);
        for (const i of instances) {
          expect((await retrieveDataset(server.httpUrl, AUTH, i)).equals(i.dataset)).toBe(true);
        }
        await expectBackendsMatchLocations(
          async (text) => (await db.query<{ backend: string; key: string }>(text)).rows,
          dataDir,
          bucket,
        );
        await server.stop();
      } finally {
        await db.end();
        await server.kill9();
      }
    },
    180_000,
  );
});
