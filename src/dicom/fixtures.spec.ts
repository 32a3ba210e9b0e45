import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeInstance,
  newUid,
  writeInstanceFile,
  type FixtureTransferSyntax,
} from './testing/index.js';
import { isValidUid } from './uids.js';

const hasDcmdump = spawnSync('dcmdump', ['--version']).status === 0;
const SYNTAXES: FixtureTransferSyntax[] = [
  'implicit',
  'explicit',
  'explicit-big-endian',
  'deflated',
  'jpeg-baseline',
];

describe('test fixtures', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-fixtures-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('newUid gives valid, distinct 2.25 UIDs', () => {
    const uids = new Set(Array.from({ length: 1000 }, newUid));
    expect(uids.size).toBe(1000);
    for (const uid of uids) {
      expect(uid.startsWith('2.25.')).toBe(true);
      expect(isValidUid(uid)).toBe(true);
    }
  });

  describe.runIf(hasDcmdump)('dcmdump (dcmtk) reads them', () => {
    it.each(SYNTAXES)('%s', async (transferSyntax) => {
      const instance = makeInstance({
        transferSyntax,
        charset: 'ISO_IR 192',
        patientName: 'Müller^Jürgen',
        frames: 2,
        extra: [
          { tag: '00081115', vr: 'SQ', items: [[{ tag: '00081150', vr: 'UI', value: '1.2.3' }]] },
        ],
      });
      const path = join(dir, `${transferSyntax}.dcm`);
      await writeFile(path, instance.part10);
      const result = spawnSync('dcmdump', ['-q', '-M', path], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`(0008,0018) UI [${instance.sopInstanceUid}]`);
      expect(result.stdout).toContain('Müller^Jürgen');
      expect(result.stdout).toContain('(0028,0008) IS [2]');
      expect(result.stdout).toMatch(/\(7fe0,0010\) (OW|OB)/);
    });

    it('a streamed multi-frame file too', async () => {
      const path = join(dir, 'stream.dcm');
      const info = await writeInstanceFile(path, { frames: 10, rows: 64, columns: 64 });
      const out = execFileSync('dcmdump', ['-q', '-M', path], { encoding: 'utf8' });
      expect(out).toContain('(0028,0008) IS [10]');
      expect(out).toContain(`# ${64 * 64 * 10 * 2}, 1 PixelData`);
      expect(info.size).toBe((await readFile(path)).length);
    });
  });

  it('dcmjs reads them whole, pixel data included', () => {
    dcmjs.log.setLevel('silent');
    for (const transferSyntax of SYNTAXES) {
      const instance = makeInstance({ transferSyntax, pixelBytes: 1000 });
      const ab = new ArrayBuffer(instance.part10.length);
      new Uint8Array(ab).set(instance.part10);
      const { dict } = dcmjs.data.DicomMessage.readFile(ab);
      expect(dict['00080018']?.Value).toEqual([instance.sopInstanceUid]);
      expect(dict['7FE00010']).toBeDefined();
    }
  });

  it('streams the same bytes it builds in memory', async () => {
    for (const transferSyntax of SYNTAXES) {
      const opts = {
        transferSyntax,
        sopInstanceUid: '1.2.3',
        studyInstanceUid: '1.2.4',
        seriesInstanceUid: '1.2.5',
        frames: 3,
        pixelBytes: 3 * 1024 * 1024 + 2,
      };
      const path = join(dir, `same-${transferSyntax}.dcm`);
      const streamed = await writeInstanceFile(path, opts);
      const built = makeInstance(opts);
      const bytes = await readFile(path);
      if (transferSyntax === 'deflated') {
        // zlib's streaming and one-shot output may differ; the inflated data set may not.
        const zlib = await import('node:zlib');
        expect(
          zlib
            .inflateRawSync(bytes.subarray(built.metaLength))
            .equals(zlib.inflateRawSync(built.dataset)),
        ).toBe(true);
      } else {
        expect(bytes.equals(built.part10)).toBe(true);
        expect(streamed.size).toBe(built.size);
      }
      expect(streamed.pixelDataOffset).toBe(built.pixelDataOffset);
    }
  });
});
