import { describe, expect, it, vi } from 'vitest';
import { type CatalogReadRepository, type RetrievableInstance } from './catalog-read.repository.js';
import { CatalogReadService } from './catalog-read.service.js';
import { type SearchRow } from './qido/render.js';
import { type SearchStatement } from './qido/search-sql.js';
import { type SearchRepository } from './qido/search.repository.js';
import { StudyAccessEvents } from './study-access-events.js';

function studyRow(n: number): SearchRow {
  return { _st_id: String(n), _study_uid: `1.2.${n}`, '0020000D': `1.2.${n}` };
}

function service(rows: SearchRow[], instances: RetrievableInstance[] = []) {
  const run = vi.fn(async (s: SearchStatement) => {
    const limit = s.params.at(-1) as number;
    return rows.slice(0, limit);
  });
  const find = vi.fn(async (_f: unknown, page?: { afterId?: string; limit?: number }) => {
    const after = Number(page?.afterId ?? 0);
    return instances.filter((i) => Number(i.id) > after).slice(0, page?.limit ?? Infinity);
  });
  const svc = new CatalogReadService(
    { run } as unknown as SearchRepository,
    { findInstancesForRetrieval: find, touchStudies: vi.fn() } as unknown as CatalogReadRepository,
    new StudyAccessEvents(),
  );
  return { svc, run, find };
}

describe('CatalogReadService.search', () => {
  it('asks for one row more than the limit to tell whether more results exist', async () => {
    const { svc, run } = service([1, 2, 3].map(studyRow));
    const page = await svc.search(
      { level: 'study', keys: [], limit: 2, offset: 0 },
      'http://h/dicomweb',
    );
    expect(run.mock.calls[0]![0].params.at(-1)).toBe(3);
    expect(page.more).toBe(true);
    expect(page.results.map((r) => r['0020000D']!.Value![0])).toEqual(['1.2.1', '1.2.2']);
    const all = await svc.search(
      { level: 'study', keys: [], limit: 3, offset: 0 },
      'http://h/dicomweb',
    );
    expect(all.more).toBe(false);
    expect(all.results).toHaveLength(3);
  });
});

describe('CatalogReadService.searchPatients', () => {
  it('one statement, the same probe for more results, rows rendered from their columns', async () => {
    const rows = [1, 2, 3].map((n) => ({ _pt_id: String(n), '00100020': `P${n}` }));
    const { svc, run } = service(rows);
    const page = await svc.searchPatients({ keys: [{ key: 'PatientID', value: '' }], limit: 2 });
    expect(run).toHaveBeenCalledTimes(1);
    expect(run.mock.calls[0]![0].sql).toContain('SELECT DISTINCT ON (st.patient_fk)');
    expect(run.mock.calls[0]![0].params.at(-1)).toBe(3);
    expect(page).toEqual({
      results: [
        { '00100020': { vr: 'LO', Value: ['P1'] } },
        { '00100020': { vr: 'LO', Value: ['P2'] } },
      ],
      more: true,
    });
  });
});

describe('CatalogReadService.instanceMetadataBatches', () => {
  it('pages by catalog id, one statement per batch, until a short batch', async () => {
    const instances = Array.from(
      { length: 5 },
      (_, n) => ({ id: String(n + 1) }) as RetrievableInstance,
    );
    const { svc, find } = service([], instances);
    const batches: string[][] = [];
    for await (const b of svc.instanceMetadataBatches({ studyInstanceUid: '1.2' }, 2))
      batches.push(b.map((i) => i.id));
    expect(batches).toEqual([['1', '2'], ['3', '4'], ['5']]);
    expect(find.mock.calls.map((c) => c[1])).toEqual([
      { afterId: undefined, limit: 2, withMetadata: true },
      { afterId: '2', limit: 2, withMetadata: true },
      { afterId: '4', limit: 2, withMetadata: true },
    ]);
  });
});
