import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

function withConfig(yaml: string | null, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
  const base: NodeJS.ProcessEnv = { STRATA_DATA_DIR: join(dir, 'data'), ...env };
  if (yaml !== null) {
    writeFileSync(join(dir, 'strata.yaml'), yaml);
    base.STRATA_CONFIG = join(dir, 'strata.yaml');
  }
  return { dir, load: () => loadConfig(base) };
}

describe('loadConfig: storage backends and tiers', () => {
  it('without a config file, each tier is a folder under the data dir', () => {
    const { dir, load } = withConfig(null);
    const { storage } = load();
    expect(storage.backends).toEqual({
      local: { type: 'filesystem', path: join(dir, 'data', 'objects', 'hot') },
      'local-warm': { type: 'filesystem', path: join(dir, 'data', 'objects', 'warm') },
      'local-cold': { type: 'filesystem', path: join(dir, 'data', 'objects', 'cold') },
    });
    expect(storage.tiers.hot).toEqual({ backend: 'local', storageClass: null, restore: null });
    expect(storage.tiers.warm.backend).toBe('local-warm');
    expect(storage.tiers.cold.backend).toBe('local-cold');
  });

  it('reads the documented shape, with defaults for S3 settings', () => {
    const { load } = withConfig(`
storage:
  backends:
    local:   { type: filesystem, path: ./some/objects }
    archive: { type: s3, endpoint: 'http://127.0.0.1:9000', region: us-east-1, bucket: strata, forcePathStyle: true, prefix: vna }
  tiers:
    hot:  { backend: local }
    warm: { backend: archive, storageClass: STANDARD_IA }
    cold: { backend: archive, storageClass: GLACIER, restore: { days: 7, tier: Standard } }
`);
    const { storage } = load();
    expect(storage.backends.local).toEqual({ type: 'filesystem', path: resolve('./some/objects') });
    expect(storage.backends.archive).toMatchObject({
      type: 's3',
      bucket: 'strata',
      prefix: 'vna/',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      credentials: null,
      maxAttempts: 5,
      partSizeBytes: 16 * 1024 * 1024,
      checksums: 'when-required', // a custom endpoint
    });
    expect(storage.tiers.cold).toEqual({
      backend: 'archive',
      storageClass: 'GLACIER',
      restore: { days: 7, tier: 'Standard' },
    });
  });

  it('warm and cold default to the hot backend when only hot is named', () => {
    const { load } = withConfig(`
storage:
  backends: { nas: { type: filesystem, path: /tmp/nas } }
  tiers: { hot: { backend: nas } }
`);
    const { tiers } = load().storage;
    expect([tiers.hot.backend, tiers.warm.backend, tiers.cold.backend]).toEqual([
      'nas',
      'nas',
      'nas',
    ]);
  });

  const refused: [string, string, RegExp][] = [
    [
      'an unknown backend type',
      'storage:\n  backends: { x: { type: ftp, path: /x } }\n  tiers: { hot: { backend: x } }\n',
      /storage\.backends\.x\.type/,
    ],
    [
      'a duplicate backend id',
      'storage:\n  backends:\n    x: { type: filesystem, path: /a }\n    x: { type: filesystem, path: /b }\n  tiers: { hot: { backend: x } }\n',
      /Map keys must be unique/,
    ],
    [
      'a tier on a backend that is not defined',
      'storage:\n  backends: { x: { type: filesystem, path: /a } }\n  tiers: { hot: { backend: y } }\n',
      /storage\.tiers\.hot\.backend: 'y' is not one of storage\.backends \(x\)/,
    ],
    [
      'backends without tiers',
      'storage:\n  backends: { x: { type: filesystem, path: /a } }\n',
      /storage\.tiers: required when storage\.backends is set/,
    ],
    [
      'half of a key pair',
      'storage:\n  backends: { s: { type: s3, bucket: abc, accessKeyId: AK } }\n  tiers: { hot: { backend: s } }\n',
      /accessKeyId and secretAccessKey go together/,
    ],
    [
      'an unknown key',
      'storage:\n  backends: { s: { type: s3, bucket: abc, buckett: x } }\n  tiers: { hot: { backend: s } }\n',
      /storage\.backends\.s/,
    ],
    [
      'a bad restore tier',
      'storage:\n  tiers: { hot: { backend: local, restore: { days: 3, tier: Fast } } }\n',
      /storage\.tiers\.hot\.restore\.tier/,
    ],
  ];
  it.each(refused)('refuses %s, naming the key', (_name, yaml, message) => {
    const { load } = withConfig(yaml);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});

describe('loadConfig: fixity schedule', () => {
  it('defaults to a weekly check of every tier but cold; "off" turns it off', () => {
    expect(withConfig(null).load().fixity).toEqual({
      schedule: '0 3 * * 0',
      samplePercent: 100,
      includeCold: false,
    });
    expect(withConfig('fixity: { schedule: "off" }\n').load().fixity.schedule).toBeNull();
    expect(
      withConfig('fixity: { schedule: "*/30 * * * *", samplePercent: 5 }\n').load().fixity,
    ).toMatchObject({ schedule: '*/30 * * * *', samplePercent: 5 });
  });

  it('refuses a schedule that is not a cron expression, and a sample over 100 %', () => {
    expect(withConfig('fixity: { schedule: "every sunday" }\n').load).toThrow(
      /fixity\.schedule: 'every sunday' is not a cron expression/,
    );
    expect(withConfig('fixity: { samplePercent: 150 }\n').load).toThrow(/fixity\.samplePercent/);
  });
});

describe('loadConfig: job leases', () => {
  it('defaults to 60 s, takes jobs.leaseSeconds, and refuses 0, fractions and unknown keys', () => {
    expect(withConfig(null).load().jobs).toEqual({ leaseMs: 60_000 });
    expect(withConfig('jobs: { leaseSeconds: 2 }\n').load().jobs).toEqual({ leaseMs: 2_000 });
    expect(withConfig('jobs: { leaseSeconds: 0 }\n').load).toThrow(/jobs\.leaseSeconds/);
    expect(withConfig('jobs: { leaseSeconds: 1.5 }\n').load).toThrow(/jobs\.leaseSeconds/);
    expect(withConfig('jobs: { lease: 5 }\n').load).toThrow(/jobs.*lease/);
  });
});

describe('loadConfig: sources', () => {
  const peers = `dicom:
  peers:
    ORTHANC: { host: 127.0.0.1, port: 4242 }
    CT1: { host: 10.0.0.5, port: 104, source: ct-room-1 }
`;

  it('reads sources with their adapter, peer, profile, schedule and own keys', () => {
    const { sources, dicom } = withConfig(`${peers}
sources:
  radiology-pacs: { adapter: dimse-push, peer: ORTHANC, profile: ge-pacs }
  ct-room-1: { adapter: dimse-push, peer: CT1 }
  imports: { adapter: folder-import, path: /srv/drop, watch: true, stableSeconds: 10 }
  old-pacs: { adapter: dicomweb-pull, schedule: '0 2 * * *' }
`).load();
    expect(sources['radiology-pacs']).toEqual({
      name: 'radiology-pacs',
      adapter: 'dimse-push',
      peer: 'ORTHANC',
      profile: 'ge-pacs',
      schedule: null,
      options: {},
    });
    expect(sources.imports).toMatchObject({
      adapter: 'folder-import',
      peer: null,
      options: { path: '/srv/drop', watch: true, stableSeconds: 10 },
    });
    expect(sources['old-pacs']!.schedule).toBe('0 2 * * *');
    // A peer a source names is recorded under that source (C-STORE, ledger, policies).
    expect(dicom.peers.ORTHANC!.source).toBe('radiology-pacs');
    expect(dicom.peers.CT1!.source).toBe('ct-room-1');
  });

  it('without sources: none, and peers keep their own source or AE title', () => {
    const { sources, dicom } = withConfig(peers).load();
    expect(sources).toEqual({});
    expect(dicom.peers.ORTHANC!.source).toBe('ORTHANC');
  });

  const refused: [string, string, RegExp][] = [
    [
      'a peer that is not configured',
      'sources:\n  pacs: { adapter: dimse-push, peer: NOPE }\n',
      /sources\.pacs\.peer: 'NOPE' is not one of dicom\.peers \(ORTHANC, CT1\)/,
    ],
    [
      'one peer named by two sources',
      'sources:\n  a: { adapter: dimse-push, peer: ORTHANC }\n  b: { adapter: dimse-push, peer: ORTHANC }\n',
      /sources\.b\.peer: 'ORTHANC' is already the peer of source 'a'/,
    ],
    [
      'a peer whose own source disagrees',
      'sources:\n  pacs: { adapter: dimse-push, peer: CT1 }\n',
      /sources\.pacs\.peer: dicom\.peers\.CT1\.source is 'ct-room-1'/,
    ],
    [
      'a schedule that is not a cron expression',
      'sources:\n  p: { adapter: dicomweb-pull, schedule: nightly }\n',
      /sources\.p\.schedule: 'nightly' is not a cron expression/,
    ],
    ['a source without an adapter', 'sources:\n  p: { peer: ORTHANC }\n', /sources\.p\.adapter/],
    [
      'a bad source name',
      'sources:\n  "bad name!": { adapter: dimse-push }\n',
      /sources\.bad name!: Invalid key/,
    ],
  ];
  it.each(refused)('refuses %s, naming the key', (_name, yaml, message) => {
    const { load } = withConfig(peers + yaml);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});

describe('loadConfig: audit checkpoints', () => {
  it('defaults to a checkpoint every 10000 rows or 5 minutes', () => {
    expect(withConfig(null).load().audit.checkpointEvery).toEqual({ rows: 10_000, minutes: 5 });
  });

  it('reads audit.checkpointEvery, and refuses what makes no sense', () => {
    const ok = withConfig('audit:\n  checkpointEvery: { rows: 500, minutes: 1.5 }\n');
    expect(ok.load().audit.checkpointEvery).toEqual({ rows: 500, minutes: 1.5 });
    expect(() => withConfig('audit:\n  checkpointEvery: { rows: 0 }\n').load()).toThrow(
      /audit\.checkpointEvery\.rows/,
    );
    expect(() => withConfig('audit:\n  checkpointEvery: { hours: 1 }\n').load()).toThrow(
      ConfigError,
    );
  });
});

describe('loadConfig: STRATA_TRUST_PROXY (reverse proxies trusted for X-Forwarded-For)', () => {
  it('is empty when unset, a list of named ranges, addresses and CIDR ranges when set', () => {
    expect(withConfig(null).load().http.trustProxy).toEqual([]);
    const { load } = withConfig(null, {
      STRATA_TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8 , 192.168.1.20',
    });
    expect(load().http.trustProxy).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8', '192.168.1.20']);
  });

  it.each(['nginx', '10.0.0.0/33', '10.0.0.1/8/2', '300.1.1.1', ''])('refuses %j', (value) => {
    const { load } = withConfig(null, { STRATA_TRUST_PROXY: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/STRATA_TRUST_PROXY/);
  });
});

describe('loadConfig: overload limits', () => {
  it('has defaults, takes the file values, and refuses unknown or out-of-range keys', () => {
    expect(withConfig(null).load().limits).toEqual({
      maxAssociations: 64,
      maxStowRequests: 16,
      maxInFlightBytes: 512 * 1024 * 1024,
      retryAfterSeconds: 5,
    });
    const set = withConfig(
      'limits: { maxAssociations: 8, maxInFlightMiB: 100, retryAfterSeconds: 30 }',
    );
    expect(set.load().limits).toEqual({
      maxAssociations: 8,
      maxStowRequests: 16,
      maxInFlightBytes: 100 * 1024 * 1024,
      retryAfterSeconds: 30,
    });
    expect(() => withConfig('limits: { maxConnections: 8 }').load()).toThrow(/maxConnections/);
    expect(() => withConfig('limits: { maxStowRequests: 0 }').load()).toThrow(
      /limits\.maxStowRequests/,
    );
  });
});
