import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { createTestBucket, s3BackendYaml, s3Directory } from '../support/s3.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { retrieveDataset } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const retrieve = (s: TestStrata, i: ReturnType<typeof makeInstance>) =>
  retrieveDataset(s.httpUrl, s.auth, i);

describe('the hot tier on S3 (s3rver): ingest writes there, reads come back from there', () => {
  let s: TestStrata;
  let bucket: string;
  let work: string;
  const dcmtk = hasTool('storescu');

  beforeAll(async () => {
    bucket = await createTestBucket();
    work = await mkdtemp(join(tmpdir(), 'strata-s3hot-'));
    s = await startTestStrata({
      configYaml: `storage:\n  backends:\n    archive: ${s3BackendYaml(bucket)}\n  tiers:\n    hot: { backend: archive }\n`,
    });
  });
  afterAll(async () => {
    await s?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('STOW-RS in, WADO-RS out byte for byte; the locations name the S3 backend', async () => {
    const instances = [
      makeInstance({ transferSyntax: 'explicit', sopClassUid: CT, pixelBytes: 300_000 }),
      makeInstance({ transferSyntax: 'implicit', sopClassUid: CT, pixelBytes: 6 * 1024 * 1024 }),
    ];
    expect(
      (
        await stow(
          s.httpUrl,
          s.auth,
          instances.map((i) => i.part10),
        )
      ).status,
    ).toBe(200);
    for (const i of instances) expect((await retrieve(s, i)).equals(i.dataset)).toBe(true);
    const rows = await s.running.database.database.query<{ backend: string; tier: string }>(
      'SELECT DISTINCT backend, tier FROM locations',
    );
    expect(rows).toEqual([{ backend: 'archive', tier: 'hot' }]);
  });

  it.runIf(dcmtk)('storescu in, WADO-RS out byte for byte', async () => {
    const i = makeInstance({ transferSyntax: 'explicit', sopClassUid: CT, pixelBytes: 128 * 1024 });
    const path = join(work, 'one.dcm');
    writeFileSync(path, i.part10);
    const r = await runTool(
      'storescu',
      ['-aec', 'STRATA', '127.0.0.1', String(s.dicomPort), path],
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await retrieve(s, i)).equals(i.dataset)).toBe(true);
  });

  it('keeps only OpenPGP ciphertext in the bucket', async () => {
    const marker = 'S3^PLAINTEXT^MARKER';
    const i = makeInstance({ sopClassUid: CT, patientName: marker, patientId: 'S3-SECRET-ID' });
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    const files = allFiles(join(s3Directory(), bucket)).filter((f) =>
      f.endsWith('._S3rver_object'),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f);
      expect(bytes[0], f).toBe(0xd2); // an OpenPGP SEIPD packet
      expect(bytes.includes(Buffer.from(marker))).toBe(false);
      expect(bytes.includes(Buffer.from('S3-SECRET-ID'))).toBe(false);
      expect(bytes.includes(i.dataset.subarray(0, 64))).toBe(false);
    }
  });

  it('after a restart, everything is still there (the start-up sweep lists the bucket)', async () => {
    const i = makeInstance({ sopClassUid: CT, pixelBytes: 50_000 });
    expect((await stow(s.httpUrl, s.auth, [i.part10])).status).toBe(200);
    s = await s.restart();
    expect((await retrieve(s, i)).equals(i.dataset)).toBe(true);
  });
});
