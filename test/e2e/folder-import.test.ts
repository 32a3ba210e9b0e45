import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { cli } from '../support/cli.js';
import { buildServer, removeServerBuild } from '../support/crash-child.js';
import { makeDicomdir } from '../support/dicomdir.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, testEnv } from '../support/strata-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { makeZip } from '../support/zip.js';

type Instance = ReturnType<typeof makeInstance>;

function put(root: string, files: Record<string, Buffer | string>): void {
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), data);
  }
}

async function query<T>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    return (await db.query(sql, params)).rows as T[];
  } finally {
    await db.end();
  }
}

/** Versions per SOP Instance UID among `uids` (each imported once: 1 each). */
async function versions(databaseUrl: string, uids: string[]): Promise<Record<string, number>> {
  const rows = await query<{ uid: string; n: number }>(
    databaseUrl,
    `SELECT i.sop_instance_uid AS uid, count(v.id)::int AS n FROM instances i
       JOIN instance_versions v ON v.instance_fk = i.id
      WHERE i.sop_instance_uid = ANY($1) GROUP BY 1`,
    [uids],
  );
  return Object.fromEntries(rows.map((r) => [r.uid, r.n]));
}

const once = (uids: string[]) => Object.fromEntries(uids.map((u) => [u, 1]));

describe('strata import: folders, zip files, DICOMDIR media; resumable', () => {
  let work: string;
  let databaseUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-import-'));
    databaseUrl = await createTestDatabase();
    env = testEnv(join(work, 'data'), databaseUrl);
    await buildServer();
  }, 240_000);
  afterAll(() => {
    removeServerBuild();
    rmSync(work, { recursive: true, force: true });
  });

  it('imports the good files, refuses and lists a corrupt and a non-DICOM one, exits 1; again: duplicates', async () => {
    const plain = [0, 1, 2, 3].map(() => makeInstance({ pixelBytes: 4096 }));
    const zipped = [0, 1].map(() => makeInstance({ pixelBytes: 4096 }));
    const onMedium = [0, 1].map(() => makeInstance());
    const broken = makeInstance({ pixelBytes: 4096 }).part10;
    const input = join(work, 'in');
    put(input, {
      'a1.dcm': plain[0]!.part10,
      'a2.dcm': plain[1]!.part10,
      'nested/deeper/b1.dcm': plain[2]!.part10,
      'nested/b2.dcm': plain[3]!.part10,
      // The zip holds two instances found nowhere else, and one the folder has too.
      'some.zip': makeZip([
        { name: 'z/z1.dcm', data: zipped[0]!.part10 },
        { name: 'z/z2.dcm', data: zipped[1]!.part10 },
        { name: 'copy-of-a1.dcm', data: plain[0]!.part10 },
      ]),
      'broken.dcm': broken.subarray(0, broken.length - 1000),
      'readme.txt': 'not DICOM at all\n',
      'cd/DICOMDIR': makeDicomdir([
        ['DICOM', 'IM1'],
        ['DICOM', 'IM2'],
      ]),
      'cd/DICOM/IM1': onMedium[0]!.part10,
      'cd/DICOM/IM2': onMedium[1]!.part10,
      'cd/AUTORUN.INF': '[autorun]\n',
    });
    const good = [...plain, ...zipped, ...onMedium].map((i) => i.sopInstanceUid);

    const first = await cli(['import', input], env);
    expect(first.code, first.stderr).toBe(1);
    expect(first.stdout).toMatch(/: 11 file\(s\)/);
    expect(first.stdout).toMatch(
      /stored: 8, new versions: 0, duplicates: 1, kept first: 0, refused: 2;/,
    );
    expect(first.stdout).toMatch(/truncated \(1\):\n {4}broken\.dcm: /);
    expect(first.stdout).toMatch(/not-part10 \(1\):\n {4}readme\.txt: /);
    expect(first.stdout).toMatch(/skipped 2 \(/);
    expect(await versions(databaseUrl, good)).toEqual(once(good));
    const [{ adapter, source }] = await query<{ adapter: string; source: string }>(
      databaseUrl,
      'SELECT DISTINCT adapter, source FROM instance_versions',
    );
    expect({ adapter, source }).toEqual({ adapter: 'folder-import', source: 'import' });

    const second = await cli(['import', input, '--json'], env);
    expect(second.code).toBe(1);
    const report = JSON.parse(second.stdout) as {
      resumed: boolean;
      stored: number;
      duplicates: number;
      refused: { path: string; reason: string }[];
      skipped: { path: string; reason: string }[];
    };
    expect(report).toMatchObject({ resumed: false, stored: 0, duplicates: 9 });
    expect(report.refused.map((r) => [r.path, r.reason])).toEqual([
      ['broken.dcm', 'truncated'],
      ['readme.txt', 'not-part10'],
    ]);
    expect(report.skipped.map((s) => s.path).sort()).toEqual(['cd/AUTORUN.INF', 'cd/DICOMDIR']);
    expect(await versions(databaseUrl, good)).toEqual(once(good));

    const usage = await cli(['import'], env);
    expect(usage.code).toBe(2);
    expect((await cli(['import', join(work, 'nowhere')], env)).code).toBe(2);
  });

  it('killed with SIGKILL mid-import, --resume goes on where it stopped: no file imported twice', async () => {
    const input = join(work, 'resume');
    const instances: Instance[] = [0, 1, 2, 3, 4, 5].map(() => makeInstance({ pixelBytes: 8192 }));
    put(input, Object.fromEntries(instances.map((inst, n) => [`f${n}.dcm`, inst.part10])));
    const uids = instances.map((i) => i.sopInstanceUid);

    const killed = await cli(['import', input], { ...env, STRATA_TEST_FAILPOINT: 'import:file:3' });
    expect(killed.signal).toBe('SIGKILL');
    expect(Object.keys(await versions(databaseUrl, uids))).toHaveLength(3);

    const resumed = await cli(['import', input, '--resume'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/\(resumed\) of .*: 6 file\(s\)/);
    expect(resumed.stdout).toMatch(
      /stored: 6, new versions: 0, duplicates: 0, kept first: 0, refused: 0/,
    );
    expect(await versions(databaseUrl, uids)).toEqual(once(uids));
    // One 'stored' audit row per instance: the second process did not send the first three again.
    const audited = await query<{ n: number }>(
      databaseUrl,
      `SELECT count(*)::int AS n FROM audit_events
        WHERE action = 'instance.stored' AND detail->>'sopInstanceUid' = ANY($1)`,
      [uids],
    );
    expect(audited[0]!.n).toBe(6);
  });
});

describe('folder-import drop folder, and GET /api/sources', () => {
  it('takes a file only once it is complete, moves it to .imported/ (refused ones to .refused/)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-drop-'));
    const drop = join(dataDir, 'drop');
    mkdirSync(drop);
    const s = await startTestStrata({
      dataDir,
      configYaml: `
dicom:
  peers:
    PACS: { host: 127.0.0.1, port: 104 }
sources:
  drop: { adapter: folder-import, path: ${drop}, stableSeconds: 3, pollSeconds: 0.2 }
  radiology-pacs: { adapter: dimse-push, peer: PACS, profile: acme-pacs }
  web: { adapter: stow-push, token: admin }
`,
      // A source's profile must exist (vendor profiles are checked at start).
      policies: { 'profiles/acme-pacs.yaml': 'rules: []\n' },
    });
    try {
      const inst = makeInstance({ pixelBytes: 64 * 1024 });
      const half = Math.floor(inst.part10.length / 2);
      // Written in two halves with a pause shorter than stableSeconds: never taken half-written.
      writeFileSync(join(drop, 'slow.dcm'), inst.part10.subarray(0, half));
      await sleep(1000);
      expect(existsSync(join(drop, 'slow.dcm'))).toBe(true);
      appendFileSync(join(drop, 'slow.dcm'), inst.part10.subarray(half));
      writeFileSync(join(drop, 'junk.txt'), 'no DICOM here');
      const imported = join(drop, '.imported', 'slow.dcm');
      for (let t = 0; t < 100 && !existsSync(imported); t++) await sleep(200);
      expect(existsSync(imported)).toBe(true);
      expect(readFileSync(imported).equals(inst.part10)).toBe(true);
      expect(existsSync(join(drop, 'slow.dcm'))).toBe(false);
      expect(existsSync(join(drop, '.refused', 'slow.dcm'))).toBe(false);
      expect(await versions(s.databaseUrl, [inst.sopInstanceUid])).toEqual({
        [inst.sopInstanceUid]: 1,
      });
      const reason = join(drop, '.refused', 'junk.txt.reason.txt');
      for (let t = 0; t < 50 && !existsSync(reason); t++) await sleep(200);
      expect(readFileSync(reason, 'utf8')).toMatch(/^junk\.txt: not-part10: /);
      expect(existsSync(join(drop, '.refused', 'junk.txt'))).toBe(true);

      expect((await stow(s.httpUrl, s.auth, [makeInstance().part10])).status).toBe(200);
      const res = await fetch(`${s.httpUrl}/api/sources`, { headers: { authorization: s.auth } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        sources: {
          name: string;
          adapter: string;
          kind: string;
          configured: boolean;
          profile: string | null;
          running: boolean;
          health: { ok: boolean };
          detail?: string;
          counters: Record<string, unknown>;
        }[];
        adapters: { id: string; kind: string; running: boolean; health: { ok: boolean } }[];
      };
      const byName = Object.fromEntries(body.sources.map((x) => [x.name, x]));
      expect(byName.drop).toMatchObject({
        adapter: 'folder-import',
        kind: 'import',
        configured: true,
        running: true,
        health: { ok: true },
        detail: `watching ${drop}`,
        counters: { received: 2, stored: 1, refused: 1, duplicates: 0 },
      });
      expect(byName.drop!.counters.bytes).toBeGreaterThan(64 * 1024);
      expect(byName.web).toMatchObject({
        adapter: 'stow-push',
        kind: 'push',
        counters: { received: 1, stored: 1 },
      });
      expect(byName['radiology-pacs']).toMatchObject({
        adapter: 'dimse-push',
        profile: 'acme-pacs',
        counters: { received: 0 },
      });
      expect(body.adapters.map((a) => [a.id, a.kind, a.running, a.health.ok])).toEqual([
        ['dimse-push', 'push', true, true],
        ['stow-push', 'push', true, true],
        ['folder-import', 'import', true, true],
        ['dicomweb-pull', 'pull', true, true],
        ['orthanc-pull', 'pull', true, true],
        ['dimse-pull', 'pull', true, true],
      ]);
      // The ledger stays under api/sources beside the list.
      const ledger = await fetch(`${s.httpUrl}/api/sources/web/ledger`, {
        headers: { authorization: s.auth },
      });
      expect(ledger.status).toBe(200);
    } finally {
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start when a source names an unknown adapter, naming it', async () => {
    await expect(
      startTestStrata({ configYaml: 'sources:\n  old: { adapter: dimse-pul, peer: X }\n' }),
    ).rejects.toThrow(/dicom\.peers/);
    await expect(
      startTestStrata({ configYaml: 'sources:\n  old: { adapter: dicomweb-pul }\n' }),
    ).rejects.toThrow(
      /sources\.old\.adapter: unknown adapter 'dicomweb-pul' \(known: dimse-push, stow-push, folder-import/,
    );
  });
});
