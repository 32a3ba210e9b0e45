import { describe, expect, it } from 'vitest';
import { changedSections, configVersion, recordableConfig } from './config-fingerprint.js';

describe('the recorded configuration', () => {
  const config = {
    dicom: { aeTitle: 'STRATA', port: 11112, peers: { PACS: { host: 'h', port: 104 } } },
    auth: { adminToken: 'very-secret-token' },
    backends: [{ id: 's3', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } }],
  };

  it('never holds a secret, only a digest that still changes with it', () => {
    const text = JSON.stringify(recordableConfig(config));
    expect(text).not.toContain('very-secret-token');
    expect(text).not.toContain('"SK"');
    expect(text).toContain('"accessKeyId":"AK"');
    const rotated = { ...config, auth: { adminToken: 'another-secret' } };
    expect(configVersion(recordableConfig(rotated))).not.toBe(
      configVersion(recordableConfig(config)),
    );
  });

  it('the same configuration in another key order is the same version', () => {
    const reordered = { backends: config.backends, auth: config.auth, dicom: config.dicom };
    expect(configVersion(recordableConfig(reordered))).toBe(
      configVersion(recordableConfig(config)),
    );
  });

  it('names the sections and keys that changed', () => {
    const before = recordableConfig(config);
    const after = recordableConfig({
      ...config,
      dicom: { ...config.dicom, port: 104 },
      lifecycle: { batchSize: 10 },
    });
    expect(changedSections(before, after)).toEqual(['dicom.port', 'lifecycle']);
    expect(changedSections(before, before)).toEqual([]);
  });
});
