import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../config/index.js';
import { CommandField, DimseStatus } from '../../../dimse/index.js';
import { allowedOperations, notAuthorized, operationOf } from './peer-access.js';

describe('DICOM access per peer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-peer-access-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (yaml: string) => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return loadConfig({ STRATA_CONFIG: file, STRATA_DATA_DIR: dir }).dicom;
  };

  it('maps each command to the right it needs; C-ECHO and the rest need none', () => {
    expect(operationOf(CommandField.CStoreRq)).toBe('store');
    expect(operationOf(CommandField.CFindRq)).toBe('query');
    expect(operationOf(CommandField.CMoveRq)).toBe('move');
    expect(operationOf(CommandField.CGetRq)).toBe('get');
    expect(operationOf(CommandField.NActionRq)).toBe('commit');
    expect(operationOf(CommandField.CEchoRq)).toBeNull();
    expect(operationOf(CommandField.NGetRq)).toBeNull();
  });

  it('lets everyone do everything unless the configuration says otherwise', () => {
    const d = config('dicom:\n  peers:\n    PACS: { host: h, port: 104 }\n');
    expect(allowedOperations(d, 'PACS')).toEqual(['store', 'query', 'move', 'get', 'commit']);
    expect(allowedOperations(d, 'ANYONE')).toEqual(['store', 'query', 'move', 'get', 'commit']);
  });

  it("reads a peer's allow list and the unknown peers' one", () => {
    const d = config(`
dicom:
  unknownPeers: { allow: [store] }
  peers:
    VIEWER: { host: h, port: 104, allow: [query, get, query] }
    SILENT: { host: h, port: 104, allow: [] }
`);
    expect(allowedOperations(d, 'VIEWER')).toEqual(['query', 'get']);
    expect(allowedOperations(d, 'SILENT')).toEqual([]);
    expect(allowedOperations(d, 'MODALITY')).toEqual(['store']);
  });

  it('refuses an unknown right in the configuration', () => {
    expect(() => config('dicom:\n  unknownPeers: { allow: [delete] }\n')).toThrow(ConfigError);
  });

  it('answers a refused command with 0124 and a comment without patient data', () => {
    for (const op of ['store', 'query', 'move', 'get', 'commit'] as const) {
      const r = notAuthorized(op);
      expect(r.status).toBe(DimseStatus.NotAuthorized);
      expect(r.errorComment!.length).toBeLessThanOrEqual(64);
    }
    expect(notAuthorized('move').errorComment).toBe('C-MOVE not authorized for this AE title');
  });
});
