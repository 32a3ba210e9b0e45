import { describe, expect, it } from 'vitest';
import { ConfigError, type SourceConfig, type StrataConfig } from '../../config/index.js';
import { type IngestionAdapter } from './adapter.js';
import { AdapterActivity } from './adapter-activity.js';
import {
  AdapterRegistry,
  checkSources,
  DuplicateAdapterError,
  indexAdapters,
} from './adapter-registry.js';

function fakeAdapter(id: string, log: string[] = [], problems: string[] = []): IngestionAdapter {
  const activity = new AdapterActivity();
  return {
    id,
    kind: 'push',
    capabilities: [],
    checkSource: () => problems,
    start: async () => {
      if (id === 'broken') throw new Error('port in use');
      log.push(`start ${id}`);
    },
    stop: async () => {
      log.push(`stop ${id}`);
    },
    health: async () => ({ ok: true }),
    status: () => activity.status(),
  };
}

function source(name: string, adapter: string): SourceConfig {
  return { name, adapter, peer: null, profile: null, schedule: null, options: {} };
}

describe('the adapter registry', () => {
  it('refuses an adapter id registered twice, naming it', () => {
    const adapters = [fakeAdapter('a'), fakeAdapter('b'), fakeAdapter('a')];
    expect(() => indexAdapters(adapters)).toThrow(DuplicateAdapterError);
    expect(() => indexAdapters(adapters)).toThrow(/registered more than once: a$/);
  });

  it('refuses a source naming an unknown adapter, naming the source, the adapter and the known ones', () => {
    const adapters = indexAdapters([fakeAdapter('dimse-push'), fakeAdapter('folder-import')]);
    const check = () =>
      checkSources(
        { pacs: source('pacs', 'dimse-push'), old: source('old', 'dicomweb-pul') },
        adapters,
      );
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(
      "sources.old.adapter: unknown adapter 'dicomweb-pul' (known: dimse-push, folder-import)",
    );
  });

  it('reports every source whose settings its adapter refuses, in one error', () => {
    const adapters = indexAdapters([fakeAdapter('x', [], ['path: Required'])]);
    expect(() => checkSources({ a: source('a', 'x'), b: source('b', 'x') }, adapters)).toThrow(
      'config file: sources.a: path: Required; sources.b: path: Required',
    );
  });

  it('checks at module init, starts in order at bootstrap, stops in reverse at shutdown', async () => {
    const log: string[] = [];
    const config = { sources: { s: source('s', 'one') } } as unknown as StrataConfig;
    const registry = new AdapterRegistry(config, [
      fakeAdapter('one', log),
      fakeAdapter('two', log),
    ]);
    registry.onModuleInit();
    await registry.onApplicationBootstrap();
    await registry.onApplicationShutdown();
    expect(log).toEqual(['start one', 'start two', 'stop two', 'stop one']);
    expect(registry.list().map((a) => a.id)).toEqual(['one', 'two']);
  });

  it('an adapter that cannot start stops those already started and fails the start, naming it', async () => {
    const log: string[] = [];
    const config = { sources: {} } as unknown as StrataConfig;
    const registry = new AdapterRegistry(config, [
      fakeAdapter('one', log),
      fakeAdapter('broken', log),
    ]);
    registry.onModuleInit();
    await expect(registry.onApplicationBootstrap()).rejects.toThrow(
      "ingestion adapter 'broken' could not start: port in use",
    );
    expect(log).toEqual(['start one', 'stop one']);
  });

  it('an unknown adapter in the config file fails module init', () => {
    const config = { sources: { s: source('s', 'nope') } } as unknown as StrataConfig;
    const registry = new AdapterRegistry(config, [fakeAdapter('one')]);
    expect(() => registry.onModuleInit()).toThrow(/sources\.s\.adapter: unknown adapter 'nope'/);
  });
});
