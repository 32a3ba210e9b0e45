import { describe, expect, it, vi } from 'vitest';
import { type AuditEvent, type AuditService } from '../audit/index.js';
import { type CatalogReadService, type SearchRequest } from '../catalog/index.js';
import { QidoService } from './qido.service.js';

function setup(more: boolean) {
  const events: AuditEvent[] = [];
  const search = vi.fn(async (_r: SearchRequest) => ({
    results: [{ '0020000D': { vr: 'UI', Value: ['1.2'] } }],
    more,
  }));
  const service = new QidoService(
    { search } as unknown as CatalogReadService,
    { recordAlone: vi.fn(async (e: AuditEvent) => void events.push(e)) } as unknown as AuditService,
  );
  return { service, events, search };
}

const who = { actor: 'viewer', role: 'reader', host: '10.0.0.9' };

describe('QidoService', () => {
  it('audits one study.queried event with the keys and never the values', async () => {
    const { service, events } = setup(false);
    await service.search(
      'study',
      {},
      new URLSearchParams('PatientName=Secret*&StudyDate=20240101-&includefield=StudyDescription'),
      who,
      'http://h/dicomweb',
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: 'viewer',
      actorHost: '10.0.0.9',
      role: 'reader',
      action: 'study.queried',
      outcome: 'success',
      detail: {
        protocol: 'QIDO-RS',
        level: 'study',
        keys: ['PatientName', 'StudyDate'],
        includefield: ['StudyDescription'],
        results: 1,
      },
    });
    expect(JSON.stringify(events)).not.toContain('Secret');
  });

  it('warns about more results only when the server chose the page size', async () => {
    const limited = setup(true);
    expect((await limited.service.search('study', {}, [], who, 'b')).warnings).toEqual([
      'The number of results exceeded the maximum supported by the server. Additional results can be requested.',
    ]);
    const clientLimit = setup(true);
    expect(
      (await clientLimit.service.search('study', {}, [['limit', '1']], who, 'b')).warnings,
    ).toEqual([]);
  });

  it('a malformed search is thrown before anything is audited', async () => {
    const { service, events } = setup(false);
    await expect(service.search('study', {}, [['limit', '0']], who, 'b')).rejects.toThrow(
      'limit must be an integer from 1',
    );
    expect(events).toHaveLength(0);
  });
});
