import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { makeDicomdir } from '../../../../test/support/dicomdir.js';
import { makeZip } from '../../../../test/support/zip.js';
import { ImportFilesRepository, type ImportPlan } from './import-files.repository.js';

function tree(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-import-plan-'));
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
  }
  return root;
}

async function read(
  repo: ImportFilesRepository,
  plan: ImportPlan,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const item of repo.items(plan)) out[item.path] = await text(await item.open());
  return out;
}

describe('ImportFilesRepository', () => {
  const repo = new ImportFilesRepository();

  it('walks folders in name order, reads zip entries, skips hidden files', async () => {
    const root = tree({
      'b.dcm': 'B',
      'a/nested/c.dcm': 'C',
      '.DS_Store': 'x',
      'some.zip': makeZip([
        { name: 'in/z1.dcm', data: Buffer.from('Z1') },
        { name: '__MACOSX/._z1.dcm', data: Buffer.from('junk') },
        { name: 'DICOMDIR', data: Buffer.from('dir') },
      ]),
    });
    const plan = await repo.plan(root);
    expect(plan.files).toBe(3);
    expect(plan.bytes).toBe(4);
    expect(plan.skipped).toEqual([
      { path: '.DS_Store', reason: 'hidden' },
      { path: 'some.zip!__MACOSX/._z1.dcm', reason: 'hidden' },
      { path: 'some.zip!DICOMDIR', reason: 'DICOMDIR' },
    ]);
    expect(await read(repo, plan)).toEqual({
      'a/nested/c.dcm': 'C',
      'b.dcm': 'B',
      'some.zip!in/z1.dcm': 'Z1',
    });
  });

  it('refuses a zip it cannot read, and goes on', async () => {
    const root = tree({ 'bad.zip': 'PK\x03\x04 not really', 'ok.dcm': 'ok' });
    const plan = await repo.plan(root);
    expect(plan.refused).toEqual([expect.objectContaining({ path: 'bad.zip', reason: 'bad-zip' })]);
    expect(await read(repo, plan)).toEqual({ 'ok.dcm': 'ok' });
  });

  it('imports what a DICOMDIR references (any case), refuses the missing, skips the rest', async () => {
    const root = tree({
      'cd/DICOMDIR': makeDicomdir([
        ['DICOM', 'IM0001'],
        ['DICOM', 'IM0002'],
        ['DICOM', 'IM0003'],
      ]),
      'cd/dicom/im0001': 'one',
      'cd/DICOM/IM0002': 'two',
      'cd/VIEWER.EXE': 'MZ',
      'other/x.dcm': 'x',
    });
    const plan = await repo.plan(root);
    expect(await read(repo, plan)).toEqual({
      'cd/dicom/im0001': 'one',
      'cd/DICOM/IM0002': 'two',
      'other/x.dcm': 'x',
    });
    expect(plan.refused).toEqual([
      expect.objectContaining({ path: 'cd/DICOM/IM0003', reason: 'missing' }),
    ]);
    expect(plan.skipped.map((s) => s.path).sort()).toEqual(['cd/DICOMDIR', 'cd/VIEWER.EXE']);
  });

  it('a DICOMDIR it cannot read is refused, and its folder imported like any other', async () => {
    const root = tree({ DICOMDIR: 'not dicom', 'f1.dcm': '1' });
    const plan = await repo.plan(join(root, 'DICOMDIR'));
    expect(plan.refused).toEqual([
      expect.objectContaining({ path: 'DICOMDIR', reason: 'bad-dicomdir' }),
    ]);
    expect(await read(repo, plan)).toEqual({ 'f1.dcm': '1' });
  });

  it('plans a single file, and a single zip as its entries', async () => {
    const root = tree({
      'one.dcm': 'one',
      'two.zip': makeZip([{ name: 'x', data: Buffer.from('X') }]),
    });
    expect(await read(repo, await repo.plan(join(root, 'one.dcm')))).toEqual({ 'one.dcm': 'one' });
    expect(await read(repo, await repo.planFile(join(root, 'two.zip')))).toEqual({
      'two.zip!x': 'X',
    });
  });
});
