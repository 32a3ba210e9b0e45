import { describe, expect, it } from 'vitest';
import { type SourceConfig } from '../../config/index.js';
import { type IngestResult } from '../ingest-request.js';
import { type IngestionAdapter } from './adapter.js';
import { AdapterActivity } from './adapter-activity.js';
import { sourcesView } from './sources-view.js';

const stored = (outcome: 'stored' | 'duplicate' | 'new-version', bytes: number): IngestResult => ({
  ok: true,
  outcome,
  bytes,
  sopClassUid: '1.2',
  sopInstanceUid: '1.2.3',
  studyInstanceUid: '1.2.4',
  transferSyntaxUid: '1.2.840.10008.1.2.1',
});
const refused: IngestResult = { ok: false, reason: 'not-part10', message: 'no' };

describe('adapter counters and GET /api/sources', () => {
  it('counts by source, lists configured sources first, and hides secrets', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const activity = new AdapterActivity(() => new Date(now));
    activity.started();
    activity.count('pacs', stored('stored', 100));
    activity.count('pacs', stored('duplicate', 100));
    now += 1000;
    activity.count('MODALITY1', refused);
    activity.count('pacs', stored('new-version', 50));
    const adapter = { id: 'dimse-push', kind: 'push', capabilities: ['c-store-scp'] };
    const config: Record<string, SourceConfig> = {
      pacs: {
        name: 'pacs',
        adapter: 'dimse-push',
        peer: 'PACS',
        profile: 'ge',
        schedule: null,
        options: { password: 'secret', note: 'n' },
      },
      idle: {
        name: 'idle',
        adapter: 'dimse-push',
        peer: 'X',
        profile: null,
        schedule: null,
        options: {},
      },
    };
    const view = sourcesView(config, [
      {
        adapter: adapter as unknown as IngestionAdapter,
        status: activity.status(['pacs', 'idle']),
        health: { ok: true },
      },
    ]);
    expect(view.sources.map((s) => [s.name, s.configured])).toEqual([
      ['idle', true],
      ['pacs', true],
      ['MODALITY1', false],
    ]);
    const pacs = view.sources.find((s) => s.name === 'pacs')!;
    expect(pacs).toMatchObject({
      adapter: 'dimse-push',
      kind: 'push',
      peer: 'PACS',
      profile: 'ge',
      options: { password: '(hidden)', note: 'n' },
      running: true,
      counters: {
        received: 3,
        stored: 1,
        duplicates: 1,
        newVersions: 1,
        refused: 0,
        bytes: 250,
        lastActivityAt: '2026-01-01T00:00:01.000Z',
      },
    });
    expect(view.sources.find((s) => s.name === 'idle')!.counters.received).toBe(0);
    expect(view.adapters[0]).toMatchObject({
      id: 'dimse-push',
      running: true,
      startedAt: '2026-01-01T00:00:00.000Z',
      counters: { received: 4, refused: 1, bytes: 250 },
    });
  });
});
