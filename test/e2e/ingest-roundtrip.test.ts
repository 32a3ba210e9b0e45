import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, writeInstanceFile } from '../../src/dicom/testing/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf, parseMultipart } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const US = '1.2.840.10008.5.1.4.1.1.6.1';
const ENHANCED_CT = '1.2.840.10008.5.1.4.1.1.2.1';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function wado(s: TestStrata, study: string, series: string, instance: string) {
  const res = await fetch(
    `${s.httpUrl}/dicomweb/studies/${study}/series/${series}/instances/${instance}`,
    {
      headers: {
        authorization: s.auth,
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
      },
    },
  );
  expect(res.status).toBe(200);
  const parts = parseMultipart(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type')!,
  );
  expect(parts).toHaveLength(1);
  return parts[0]!;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('ingest round trip: storescu and STOW-RS in, WADO-RS out, byte for byte', () => {
  let s: TestStrata;
  let dir: string;
  const dcmtk = hasTool('storescu');

  beforeAll(async () => {
    s = await startTestStrata();
    dir = await mkdtemp(join(tmpdir(), 'strata-rt-'));
  });
  afterAll(async () => {
    await s?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.runIf(dcmtk)('stores a mixed set sent by storescu and gives each back unchanged', async () => {
    const sets: { flag: string; files: { path: string; i: ReturnType<typeof makeInstance> }[] }[] =
      [
        { flag: '-xi', files: [] }, // implicit VR little endian only
        { flag: '-xe', files: [] }, // explicit VR little endian
        { flag: '-xy', files: [] }, // JPEG baseline
      ];
    const add = (set: number, opts: Parameters<typeof makeInstance>[0]) => {
      const i = makeInstance(opts);
      const path = join(dir, `${i.sopInstanceUid}.dcm`);
      sets[set]!.files.push({ path, i });
      return Promise.resolve(require_write(path, i.part10));
    };
    const require_write = (path: string, data: Buffer) =>
      import('node:fs').then((fs) => fs.writeFileSync(path, data));
    for (let n = 0; n < 3; n++)
      await add(0, {
        transferSyntax: 'implicit',
        sopClassUid: CT,
        modality: 'CT',
        pixelBytes: 64 * 1024,
      });
    for (let n = 0; n < 2; n++)
      await add(1, {
        transferSyntax: 'explicit',
        sopClassUid: MR,
        modality: 'MR',
        pixelBytes: 32 * 1024,
      });
    await add(2, {
      transferSyntax: 'jpeg-baseline',
      sopClassUid: US,
      modality: 'US',
      pixelBytes: 20_000,
    });

    for (const set of sets) {
      const r = await runTool('storescu', [
        '-aet',
        'MODALITY1',
        '-aec',
        'STRATA',
        set.flag,
        '127.0.0.1',
        String(s.dicomPort),
        ...set.files.map((f) => f.path),
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const set of sets) {
      for (const { i } of set.files) {
        const part = await wado(s, i.studyInstanceUid, i.seriesInstanceUid, i.sopInstanceUid);
        expect(part.headers['content-type']).toContain(`transfer-syntax=${i.transferSyntaxUid}`);
        expect(datasetOf(part.body).equals(i.dataset)).toBe(true);
      }
    }
  });

  it.runIf(dcmtk)(
    'receives a 600 MiB multi-frame instance in bounded memory and returns it intact',
    async () => {
      const path = join(dir, 'big.dcm');
      const big = await writeInstanceFile(path, {
        transferSyntax: 'explicit',
        sopClassUid: ENHANCED_CT,
        modality: 'CT',
        rows: 512,
        columns: 512,
        frames: 1200, // 1200 × 512 × 512 × 2 bytes = 600 MiB
      });
      expect(big.size).toBeGreaterThan(600 * 1024 * 1024);
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const r = await runTool('storescu', [
        '-aet',
        'MODALITY1',
        '-aec',
        'STRATA',
        '-xe',
        '127.0.0.1',
        String(s.dicomPort),
        path,
      ]);
      clearInterval(sampler);
      expect(r.code, r.stderr).toBe(0);
      // Buffering the dataset would cost at least its 600 MiB; streaming stays far below (what
      // remains is garbage-collector slack, which does not grow with the instance's size).
      expect(peak - baseline).toBeLessThan(300 * 1024 * 1024);

      const part = await wado(s, big.studyInstanceUid, big.seriesInstanceUid, big.sopInstanceUid);
      const file = await readFile(path);
      expect(sha256(datasetOf(part.body))).toBe(sha256(file.subarray(big.metaLength)));
    },
  );

  it('stores over STOW-RS and gives back the same dataset bytes, for each transfer syntax', async () => {
    const instances = [
      makeInstance({
        transferSyntax: 'implicit',
        sopClassUid: CT,
        modality: 'CT',
        pixelBytes: 8192,
      }),
      makeInstance({
        transferSyntax: 'explicit',
        sopClassUid: MR,
        modality: 'MR',
        pixelBytes: 8192,
      }),
      makeInstance({
        transferSyntax: 'jpeg-baseline',
        sopClassUid: US,
        modality: 'US',
        pixelBytes: 5000,
      }),
      makeInstance({
        transferSyntax: 'explicit-big-endian',
        sopClassUid: CT,
        modality: 'CT',
        pixelBytes: 4096,
      }),
    ];
    const res = await stow(
      s.httpUrl,
      s.auth,
      instances.map((i) => i.part10),
    );
    expect(res.status).toBe(200);
    expect((res.json!['00081199']!.Value as unknown[]).length).toBe(4);
    for (const i of instances) {
      const part = await wado(s, i.studyInstanceUid, i.seriesInstanceUid, i.sopInstanceUid);
      expect(datasetOf(part.body).equals(i.dataset)).toBe(true);
    }
  });

  it('treats an exact re-send as a success that stores nothing, whatever the transport and meta header', async () => {
    const db = s.running.database.database;
    const i = makeInstance({
      transferSyntax: 'explicit',
      sopClassUid: CT,
      modality: 'CT',
      pixelBytes: 4096,
    });
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const count = async () =>
      (
        await db.query<{ b: number; v: number }>(
          'SELECT (SELECT count(*)::int FROM blobs) AS b, (SELECT count(*)::int FROM instance_versions) AS v',
        )
      )[0]!;
    const before = await count();
    // Same dataset bytes behind another meta header (another source AE in group 0002).
    const again = makeInstance({
      transferSyntax: 'explicit',
      sopClassUid: CT,
      modality: 'CT',
      pixelBytes: 4096,
      sopInstanceUid: i.sopInstanceUid,
      studyInstanceUid: i.studyInstanceUid,
      seriesInstanceUid: i.seriesInstanceUid,
      sourceAet: 'OTHER_AE',
    });
    expect(again.dataset.equals(i.dataset)).toBe(true);
    expect(again.part10.equals(i.part10)).toBe(false);
    expect((await stow(s.httpUrl, s.auth, [again.part10])).status).toBe(200);
    if (dcmtk) {
      const path = join(dir, 'dup.dcm');
      await import('node:fs').then((fs) => fs.writeFileSync(path, i.part10));
      const r = await runTool('storescu', [
        '-aet',
        'MODALITY2',
        '-aec',
        'STRATA',
        '-xe',
        '127.0.0.1',
        String(s.dicomPort),
        path,
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await count()).toEqual(before);
  });

  it('keeps different bytes under the same SOP Instance UID as a new version and serves the newest', async () => {
    const first = makeInstance({
      transferSyntax: 'explicit',
      sopClassUid: CT,
      modality: 'CT',
      pixelBytes: 4096,
      instanceNumber: 1,
    });
    const second = makeInstance({
      transferSyntax: 'explicit',
      sopClassUid: CT,
      modality: 'CT',
      pixelBytes: 4096,
      instanceNumber: 2,
      sopInstanceUid: first.sopInstanceUid,
      studyInstanceUid: first.studyInstanceUid,
      seriesInstanceUid: first.seriesInstanceUid,
    });
    expect(second.dataset.equals(first.dataset)).toBe(false);
    expect((await stow(s.httpUrl, s.auth, [first.part10])).status).toBe(200);
    expect((await stow(s.httpUrl, s.auth, [second.part10])).status).toBe(200);
    const part = await wado(
      s,
      first.studyInstanceUid,
      first.seriesInstanceUid,
      first.sopInstanceUid,
    );
    expect(datasetOf(part.body).equals(second.dataset)).toBe(true);
    const rows = await s.running.database.database.query<{ version: number }>(
      `SELECT v.version FROM instance_versions v JOIN instances i ON i.id = v.instance_fk
        WHERE i.sop_instance_uid = $1 ORDER BY v.version`,
      [first.sopInstanceUid],
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
  });

  it('writes only OpenPGP ciphertext, and pkesk ++ object decrypts with the archive key to the exact bytes', async () => {
    const marker = 'PATIENT^SECRET^MARKER';
    const i = makeInstance({
      transferSyntax: 'explicit',
      sopClassUid: CT,
      modality: 'CT',
      pixelBytes: 4096,
      patientName: marker,
      patientId: 'ID-SECRET-42',
    });
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const files = allFiles(join(s.dataDir, 'objects'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f);
      // The empty file the backend keeps ready for the next object: nothing in it to check.
      if (bytes.length === 0) continue;
      // No Part 10 preamble and "DICM" where a DICOM file has them. (Searching all of a 600 MiB
      // ciphertext for 4 given bytes would find them by chance about once in seven runs.)
      expect(bytes.subarray(128, 132).toString('latin1')).not.toBe('DICM');
      expect(bytes.includes(i.dataset.subarray(0, 64))).toBe(false);
      expect(bytes.includes(Buffer.from(marker))).toBe(false);
      expect(bytes.includes(Buffer.from('ID-SECRET-42'))).toBe(false);
      // An OpenPGP SEIPD packet (tag 18, new format) and nothing else.
      expect(bytes[0]).toBe(0xd2);
      expect(statSync(f).size).toBe(bytes.length);
    }
    const db = s.running.database.database;
    const [row] = await db.query<{ key: string; pkesk: Buffer }>(
      `SELECT l.key, k.pkesk FROM instances i
         JOIN instance_versions v ON v.id = i.current_version_fk
         JOIN locations l ON l.blob_fk = v.blob_fk
         JOIN blobs b ON b.id = v.blob_fk
         JOIN study_keys k ON k.study_instance_uid = b.study_instance_uid
        WHERE i.sop_instance_uid = $1`,
      [i.sopInstanceUid],
    );
    const object = readFileSync(join(s.dataDir, 'objects', 'hot', row!.key));
    const armored = readFileSync(join(s.dataDir, 'keys', 'archive.private.asc'), 'utf8');
    const privateKey = await openpgp.decryptKey({
      privateKey: await openpgp.readPrivateKey({ armoredKey: armored }),
      passphrase: s.config.keys.passphrase!,
    });
    const message = await openpgp.readMessage({
      binaryMessage: new Uint8Array(Buffer.concat([row!.pkesk, object])),
    });
    const { data } = await openpgp.decrypt({
      message,
      decryptionKeys: privateKey,
      format: 'binary',
    });
    expect(Buffer.from(data as Uint8Array).equals(i.dataset)).toBe(true);
  });

  it('records every store in the hash-chained audit trail', async () => {
    const res = await fetch(`${s.httpUrl}/api/audit?action=instance.stored&limit=1000`, {
      headers: { authorization: s.auth },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      events: { prevHash: string; hash: string; outcome: string }[];
    };
    expect(body.events.length).toBeGreaterThan(5);
    const all = (await (
      await fetch(`${s.httpUrl}/api/audit?limit=1000`, { headers: { authorization: s.auth } })
    ).json()) as {
      events: { prevHash: string; hash: string }[];
    };
    for (let n = 1; n < all.events.length; n++)
      expect(all.events[n]!.prevHash).toBe(all.events[n - 1]!.hash);
    await expect(
      s.running.database.database.query('UPDATE audit_events SET actor = $1', ['mallory']),
    ).rejects.toThrow(/append-only/);
  });
});
