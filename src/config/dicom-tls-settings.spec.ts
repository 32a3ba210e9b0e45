import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../../test/support/tls-certificates.js';
import { ConfigError, loadConfig } from './load-config.js';

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tls-config-'));
  writeFileSync(join(dir, 'strata.yaml'), yaml);
  return loadConfig({
    STRATA_DATA_DIR: join(dir, 'data'),
    STRATA_CONFIG: join(dir, 'strata.yaml'),
    STRATA_BIND_HOST: '127.0.0.1',
    ...env,
  });
}

const listener = () => `
dicom:
  tls:
    certFile: ${pki.strata.certFile}
    keyFile: ${pki.strata.keyFile}
`;

describe('dicom.tls', () => {
  it('is absent by default: no TLS listener, peers plain', () => {
    const { dicom } = load('dicom:\n  peers:\n    PACS: { host: 127.0.0.1, port: 104 }\n');
    expect(dicom.tls).toBeNull();
    expect(dicom.peers.PACS!.tls).toBeNull();
  });

  it('defaults: port 2762, the bind host, no client certificate required', () => {
    expect(load(listener()).dicom.tls).toEqual({
      host: '127.0.0.1',
      port: 2762,
      certFile: pki.strata.certFile,
      keyFile: pki.strata.keyFile,
      caFile: null,
      requireClientCert: false,
    });
  });

  it('takes port (0 too), host, caFile and requireClientCert; STRATA_DICOM_TLS_PORT wins', () => {
    const yaml = `${listener()}    caFile: ${pki.caFile}\n    requireClientCert: true\n    port: 0\n    host: 0.0.0.0\n`;
    expect(load(yaml).dicom.tls).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      caFile: pki.caFile,
      requireClientCert: true,
    });
    expect(load(yaml, { STRATA_DICOM_TLS_PORT: '11113' }).dicom.tls!.port).toBe(11113);
  });

  const refused: [string, () => string, RegExp][] = [
    ['an unknown key', () => `${listener()}    ciphers: ALL\n`, /dicom\.tls: Unrecognized key/],
    [
      'requireClientCert without caFile',
      () => `${listener()}    requireClientCert: true\n`,
      /dicom\.tls\.caFile: requireClientCert needs caFile/,
    ],
    [
      'a missing certFile',
      () => listener().replace(pki.strata.certFile, '/nonexistent/cert.pem'),
      /dicom\.tls\.certFile: cannot read \/nonexistent\/cert\.pem/,
    ],
    [
      'a certFile that is not PEM',
      () => listener().replace(pki.strata.certFile, pki.strata.keyFile),
      /dicom\.tls\.certFile: .* holds no PEM certificate/,
    ],
    [
      'a keyFile that is not a key',
      () => listener().replace(pki.strata.keyFile, pki.strata.certFile),
      /dicom\.tls\.keyFile: .* is not an unencrypted PEM private key/,
    ],
    [
      "a key that is not the certificate's",
      () => listener().replace(pki.strata.keyFile, pki.peer.keyFile),
      /dicom\.tls\.keyFile: .* is not the key of the certificate in dicom\.tls\.certFile/,
    ],
    [
      'a caFile without certificates',
      () => `${listener()}    caFile: ${pki.strata.keyFile}\n`,
      /dicom\.tls\.caFile: .* holds no PEM certificate/,
    ],
    ['a negative port', () => `${listener()}    port: -1\n`, /dicom\.tls\.port/],
  ];
  it.each(refused)('refuses %s, naming the key', (_what, yaml, message) => {
    expect(() => load(yaml())).toThrow(ConfigError);
    expect(() => load(yaml())).toThrow(message);
  });

  it('refuses STRATA_DICOM_TLS_PORT without dicom.tls', () => {
    expect(() => load('{}', { STRATA_DICOM_TLS_PORT: '2762' })).toThrow(
      /STRATA_DICOM_TLS_PORT: set, but the config file has no dicom\.tls/,
    );
  });
});

describe('dicom.peers.<AE>.tls', () => {
  it("true: dicom.tls's CA, and its certificate as the client certificate", () => {
    const yaml = `${listener()}    caFile: ${pki.caFile}\n  peers:\n    PACS: { host: 127.0.0.1, port: 2762, tls: true }\n    OLD: { host: 127.0.0.1, port: 104, tls: false }\n`;
    const { peers } = load(yaml).dicom;
    expect(peers.PACS!.tls).toEqual({
      caFile: pki.caFile,
      certFile: pki.strata.certFile,
      keyFile: pki.strata.keyFile,
      serverName: null,
    });
    expect(peers.OLD!.tls).toBeNull();
  });

  it('true without dicom.tls: the system CAs and no client certificate', () => {
    const { peers } = load(
      'dicom:\n  peers:\n    PACS: { host: pacs.example, port: 2762, tls: true }\n',
    ).dicom;
    expect(peers.PACS!.tls).toEqual({
      caFile: null,
      certFile: null,
      keyFile: null,
      serverName: null,
    });
  });

  it('an object overrides the files and may name the server', () => {
    const yaml = `${listener()}  peers:\n    PACS:\n      host: 10.0.0.9\n      port: 2762\n      tls: { caFile: ${pki.caFile}, certFile: ${pki.peer.certFile}, keyFile: ${pki.peer.keyFile}, serverName: pacs.example }\n`;
    expect(load(yaml).dicom.peers.PACS!.tls).toEqual({
      caFile: pki.caFile,
      certFile: pki.peer.certFile,
      keyFile: pki.peer.keyFile,
      serverName: 'pacs.example',
    });
  });

  it.each([
    [
      'certFile without keyFile',
      () =>
        `dicom:\n  peers:\n    PACS: { host: h, port: 1, tls: { certFile: ${pki.peer.certFile} } }\n`,
      /dicom\.peers\.PACS\.tls: certFile and keyFile go together/,
    ],
    [
      'a key that is not the certificate’s',
      () =>
        `dicom:\n  peers:\n    PACS: { host: h, port: 1, tls: { certFile: ${pki.peer.certFile}, keyFile: ${pki.rogue.keyFile} } }\n`,
      /dicom\.peers\.PACS\.tls\.keyFile: .* is not the key of the certificate/,
    ],
    [
      'an unknown key',
      () => `dicom:\n  peers:\n    PACS: { host: h, port: 1, tls: { cafile: /x } }\n`,
      /dicom\.peers\.PACS\.tls: .*cafile/,
    ],
    [
      'a value that is neither a boolean nor an object',
      () => `dicom:\n  peers:\n    PACS: { host: h, port: 1, tls: required }\n`,
      /dicom\.peers\.PACS\.tls: /,
    ],
    [
      'a missing caFile',
      () =>
        `dicom:\n  peers:\n    PACS: { host: h, port: 1, tls: { caFile: /nonexistent/ca.pem } }\n`,
      /dicom\.peers\.PACS\.tls\.caFile: cannot read/,
    ],
  ])('refuses %s', (_what, yaml, message) => {
    expect(() => load(yaml())).toThrow(message);
  });
});
