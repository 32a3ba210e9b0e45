import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../../src/dicom/testing/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf, parseMultipart } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import { startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** Two datasets under one SOP Instance UID that differ in their bytes. */
function twoVersions() {
  const first = makeInstance({
    transferSyntax: 'explicit',
    sopClassUid: CT,
    modality: 'CT',
    pixelBytes: 2048,
    instanceNumber: 1,
  });
  const second = makeInstance({
    transferSyntax: 'explicit',
    sopClassUid: CT,
    modality: 'CT',
    pixelBytes: 2048,
    instanceNumber: 2,
    sopInstanceUid: first.sopInstanceUid,
    studyInstanceUid: first.studyInstanceUid,
    seriesInstanceUid: first.seriesInstanceUid,
  });
  return { first, second };
}

describe('policies/duplicates.yaml decides what same UID with other bytes does, per source', () => {
  let s: TestStrata;
  let dir: string;
  const dcmtk = hasTool('storescu');

  beforeAll(async () => {
    s = await startTestStrata({
      policies: {
        'duplicates.yaml':
          'default: keep-both\nsources:\n  "stow:admin": reject\n  FIRSTONLY: keep-first\n',
      },
    });
    dir = await mkdtemp(join(tmpdir(), 'strata-dup-'));
  });
  afterAll(async () => {
    await s?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const served = async (i: ReturnType<typeof makeInstance>) => {
    const res = await fetch(
      `${s.httpUrl}/dicomweb/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`,
      { headers: { authorization: s.auth } },
    );
    expect(res.status).toBe(200);
    return datasetOf(
      parseMultipart(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!)[0]!
        .body,
    );
  };

  it('reject: the second STOW is refused with 0111 and the first stays served', async () => {
    const { first, second } = twoVersions();
    expect((await stow(s.httpUrl, s.auth, [first.part10])).status).toBe(200);
    const res = await stow(s.httpUrl, s.auth, [second.part10]);
    expect(res.status).toBe(409);
    const failed = res.json!['00081198']!.Value as Record<string, { Value: unknown[] }>[];
    expect(failed[0]!['00081197']!.Value[0]).toBe(0x0111);
    expect((await served(first)).equals(first.dataset)).toBe(true);
  });

  it.runIf(dcmtk)(
    'keep-first: storescu gets a warning, nothing new is stored, the first stays served',
    async () => {
      const { first, second } = twoVersions();
      const paths = [join(dir, 'a.dcm'), join(dir, 'b.dcm')];
      writeFileSync(paths[0]!, first.part10);
      writeFileSync(paths[1]!, second.part10);
      for (const p of paths) {
        const r = await runTool('storescu', [
          '-v',
          '-aet',
          'FIRSTONLY',
          '-aec',
          'STRATA',
          '-xe',
          '127.0.0.1',
          String(s.dicomPort),
          p,
        ]);
        expect(r.code, r.stderr).toBe(0);
        if (p === paths[1]) expect(r.stdout + r.stderr).toMatch(/Warning/i);
      }
      expect((await served(first)).equals(first.dataset)).toBe(true);
      const [row] = await s.running.database.database.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM instance_versions v JOIN instances i ON i.id = v.instance_fk WHERE i.sop_instance_uid = $1`,
        [first.sopInstanceUid],
      );
      expect(row!.n).toBe(1);
    },
  );

  it.runIf(dcmtk)(
    'keep-both (the default for other sources): a new version, the newest served',
    async () => {
      const { first, second } = twoVersions();
      const paths = [join(dir, 'c.dcm'), join(dir, 'd.dcm')];
      writeFileSync(paths[0]!, first.part10);
      writeFileSync(paths[1]!, second.part10);
      const r = await runTool('storescu', [
        '-aet',
        'OTHER',
        '-aec',
        'STRATA',
        '-xe',
        '127.0.0.1',
        String(s.dicomPort),
        ...paths,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect((await served(first)).equals(second.dataset)).toBe(true);
    },
  );
});
