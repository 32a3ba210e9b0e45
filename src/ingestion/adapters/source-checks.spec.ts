import { describe, expect, it } from 'vitest';
import { type SourceConfig, type StrataConfig } from '../../config/index.js';
import { type IngestionAdapter } from './adapter.js';
import { DimsePullAdapter } from './dimse-pull/dimse-pull.adapter.js';
import { DimsePushService } from './dimse-push/dimse-push.service.js';
import { FolderImportAdapter } from './folder-import/folder-import.adapter.js';
import { StowPushAdapter } from './stow-push/stow-push.adapter.js';

const source = (name: string, adapter: string, more: Partial<SourceConfig> = {}): SourceConfig => ({
  name,
  adapter,
  peer: null,
  profile: null,
  schedule: null,
  options: {},
  ...more,
});

function adapters(sources: SourceConfig[]): Record<string, IngestionAdapter> {
  const config = {
    sources: Object.fromEntries(sources.map((s) => [s.name, s])),
  } as unknown as StrataConfig;
  const none = null as never;
  return {
    'dimse-push': new DimsePushService(config, none, none, none, none, none),
    'stow-push': new StowPushAdapter(config),
    'folder-import': new FolderImportAdapter(config, none, none),
    'dimse-pull': new DimsePullAdapter(config, none, none),
  };
}

/** Each adapter checks the keys of its own sources (the registry reports them at start). */
describe("adapters' source checks", () => {
  const cases: [string, SourceConfig, string[]][] = [
    ['a dimse-push source with its peer', source('p', 'dimse-push', { peer: 'PACS' }), []],
    [
      'a dimse-push source without a peer, with a stray key',
      source('p', 'dimse-push', { options: { path: '/x' } }),
      [
        '(keys): Unrecognized key: "path"',
        'peer: a dimse-push source names its peer (dicom.peers)',
      ],
    ],
    [
      'a stow-push source naming its token',
      source('s', 'stow-push', { options: { token: 'ris' } }),
      [],
    ],
    [
      'a watched folder without its path',
      source('f', 'folder-import', { options: { watch: true } }),
      ['path: a watched folder-import source needs the folder'],
    ],
    [
      'a folder-import source with a typo',
      source('f', 'folder-import', { options: { path: '/d', stableSecs: 3 } }),
      ['(keys): Unrecognized key: "stableSecs"'],
    ],
    [
      'a drop folder',
      source('f', 'folder-import', { options: { path: '/d', stableSeconds: 3 } }),
      [],
    ],
    [
      'a dimse-pull source draining a PACS by date, gently, at night',
      source('d', 'dimse-pull', {
        peer: 'OLDPACS',
        options: {
          query: { StudyDate: '20150101-20151231', ModalitiesInStudy: 'CT' },
          associations: 2,
          instancesPerSecond: 20,
          window: '20:00-06:00',
          retrieve: 'get',
        },
      }),
      [],
    ],
    [
      'a dimse-pull source without its PACS, with a key C-FIND has not and a bad window',
      source('d', 'dimse-pull', {
        options: { query: { InstitutionName: 'X' }, window: '8-18', retrieve: 'fetch' },
      }),
      [
        'retrieve: Invalid option: expected one of "move"|"get"',
        `query: 'InstitutionName' is not a study query key (StudyDate, StudyTime, AccessionNumber, ModalitiesInStudy, ReferringPhysicianName, StudyDescription, PatientName, PatientID, StudyInstanceUID, StudyID)`,
        'peer: a dimse-pull source names the PACS it pulls from (dicom.peers)',
        "window: '8-18' is not a window such as '22:00-06:00'",
      ],
    ],
  ];
  it.each(cases)('%s', (_name, s, problems) => {
    expect(adapters([s])[s.adapter]!.checkSource!(s)).toEqual(problems);
  });

  it('one token belongs to one stow-push source', () => {
    const a = source('a', 'stow-push', { options: { token: 'ris' } });
    const b = source('b', 'stow-push', { options: { token: 'ris' } });
    const stow = adapters([a, b])['stow-push'] as StowPushAdapter;
    expect(stow.checkSource(b)).toEqual(["token: 'ris' is already the token of 'a'"]);
    expect(stow.sourceFor('ris')).toBe('a');
    expect(stow.sourceFor('admin')).toBe('stow:admin');
  });
});
