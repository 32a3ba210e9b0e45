import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { folderKeys } from '../support/tiers.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi, retrieveDataset, stowAll, waitForJob } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** A real full disk: small tmpfs mounts (needs root, as CI has; elsewhere the test is skipped). */
function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
}
function resize(dir: string, size: string): void {
  execFileSync('mount', ['-o', `remount,size=${size}`, dir], { stdio: 'pipe' });
}
function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // not mounted
  }
}
const canMount = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'strata-mount-probe-'));
  try {
    mountTmpfs(probe, '64k');
    unmount(probe);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();
const required = process.env.STRATA_REQUIRE_INTEROP === '1';

describe.skipIf(!canMount && !required)(
  'a full disk: ingest and moves fail cleanly and lose nothing',
  () => {
    let dataDir: string;
    let hot: string;
    let warm: string;
    let s: TestStrata;
    const query = <T>(sql: string, params?: unknown[]) =>
      s.running.database.database.query<T>(sql, params);

    beforeAll(async () => {
      if (!canMount) throw new Error('this test mounts a small tmpfs to fill it: it needs root');
      dataDir = mkdtempSync(join(tmpdir(), 'strata-full-disk-'));
      hot = join(dataDir, 'hot');
      warm = join(dataDir, 'warm');
      mountTmpfs(hot, '3m');
      mountTmpfs(warm, '1m');
      s = await startTestStrata({
        dataDir,
        configYaml: `storage:
  backends:
    local: { type: filesystem, path: '${hot}' }
    small: { type: filesystem, path: '${warm}' }
  tiers:
    hot: { backend: local }
    warm: { backend: small }
fixity: { schedule: 'off' }
`,
      });
    });
    afterAll(async () => {
      await s?.stop();
      unmount(hot);
      unmount(warm);
      rmSync(dataDir, { recursive: true, force: true });
    });

    const study = newUid();
    const instances = Array.from({ length: 8 }, () =>
      makeInstance({ studyInstanceUid: study, sopClassUid: CT, pixelBytes: 500_000 }),
    );

    it('STOW-RS into a full hot tier: the ones that fit are stored, the others fail with 0xA700', async () => {
      const statuses: number[] = [];
      for (const i of instances) statuses.push((await stow(s.httpUrl, s.auth, [i.part10])).status);
      const stored = statuses.filter((x) => x === 200).length;
      expect(stored).toBeGreaterThan(0);
      expect(stored).toBeLessThan(instances.length);
      // The first failure and every one after it: the disk stays full.
      expect(statuses.slice(stored).every((x) => x === 409)).toBe(true);
      const failed = await stow(s.httpUrl, s.auth, [instances[stored]!.part10]);
      const body = failed.text;
      expect(body).toContain('00081198'); // FailedSOPSequence
      expect(body).toContain(String(0xa700));

      // Nothing half-stored: exactly the stored instances are in the catalog and on disk.
      const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM instances')) as [
        { n: number },
      ];
      expect(n).toBe(stored);
      const locations = await query<{ key: string }>('SELECT key FROM locations ORDER BY key');
      expect(folderKeys(hot)).toEqual(locations.map((l) => l.key).sort());
      for (const i of instances.slice(0, stored)) {
        expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
      }
    });

    it('once there is room again, the same instances are stored', async () => {
      resize(hot, '16m');
      await stowAll(
        s.httpUrl,
        s.auth,
        instances.map((i) => i.part10),
      );
      const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM instances')) as [
        { n: number },
      ];
      expect(n).toBe(instances.length);
      expect(folderKeys(hot)).toHaveLength(instances.length);
    });

    const waitJob = (id: string) => waitForJob(s, id);

    it('a move onto a full tier fails with a clear error; the study stays whole where it was', async () => {
      const moved = await callApi(s, 'POST', `/api/studies/${study}/move`, { tier: 'warm' });
      expect(moved.status).toBe(202);
      const job = await waitJob(String(moved.body.id));
      expect(job.status).toBe('failed');
      expect(String(job.error)).toMatch(/no space left on device|ENOSPC/i);

      // Every instance still reads, and each object is where a location says: nothing orphaned.
      for (const i of instances) {
        expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
      }
      const locations = await query<{ backend: string; key: string }>(
        'SELECT backend, key FROM locations ORDER BY key',
      );
      expect(folderKeys(hot)).toEqual(
        locations
          .filter((l) => l.backend === 'local')
          .map((l) => l.key)
          .sort(),
      );
      expect(folderKeys(warm)).toEqual(
        locations
          .filter((l) => l.backend === 'small')
          .map((l) => l.key)
          .sort(),
      );
      const audit = await query<{ outcome: string }>(
        `SELECT outcome FROM audit_events WHERE action = 'study.moved' AND study_instance_uid = $1`,
        [study],
      );
      expect(audit).toEqual([{ outcome: 'failure' }]);
    });

    it('retried with room, the move completes', async () => {
      resize(warm, '16m');
      const moved = await callApi(s, 'POST', `/api/studies/${study}/move`, { tier: 'warm' });
      const job = await waitJob(String(moved.body.id));
      expect(job).toMatchObject({ status: 'done', error: null });
      expect(folderKeys(hot)).toEqual([]);
      expect(folderKeys(warm)).toHaveLength(instances.length);
      for (const i of instances) {
        expect((await retrieveDataset(s.httpUrl, s.auth, i)).equals(i.dataset)).toBe(true);
      }
    });
  },
);
