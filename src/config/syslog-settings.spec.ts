import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

function load(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-syslog-config-'));
  writeFileSync(join(dir, 'strata.yaml'), yaml);
  writeFileSync(join(dir, 'ca.pem'), 'x');
  return {
    dir,
    config: () =>
      loadConfig({ STRATA_DATA_DIR: join(dir, 'data'), STRATA_CONFIG: join(dir, 'strata.yaml') }),
  };
}

describe('loadConfig: audit.syslog', () => {
  it('is off when absent', () => {
    expect(load('{}').config().audit.syslog).toBeNull();
  });

  it('reads the documented shape, with defaults, the files resolved', () => {
    const { dir, config } = load('');
    writeFileSync(
      join(dir, 'strata.yaml'),
      `audit:\n  syslog: { host: arr.example.org, port: 6514, protocol: tls, caFile: '${join(dir, 'ca.pem')}' }\n`,
    );
    expect(config().audit.syslog).toEqual({
      host: 'arr.example.org',
      port: 6514,
      protocol: 'tls',
      caFile: join(dir, 'ca.pem'),
      certFile: null,
      keyFile: null,
      rejectUnauthorized: true,
      pseudonymize: false,
      batch: 200,
    });
    const plain = load(
      'audit:\n  syslog: { host: 127.0.0.1, port: 514, protocol: tcp, pseudonymize: true, batch: 50 }\n',
    );
    expect(plain.config().audit.syslog).toMatchObject({
      protocol: 'tcp',
      pseudonymize: true,
      batch: 50,
    });
  });

  it.each([
    [
      'an unknown key',
      'audit:\n  syslog: { host: h, port: 514, protocol: tcp, hots: x }\n',
      /unrecognized|hots/i,
    ],
    [
      'a protocol it does not speak',
      'audit:\n  syslog: { host: h, port: 514, protocol: udp }\n',
      /protocol/,
    ],
    ['no port', 'audit:\n  syslog: { host: h, protocol: tcp }\n', /port/],
    [
      'a certificate without its key',
      'audit:\n  syslog: { host: h, port: 6514, protocol: tls, certFile: c.pem }\n',
      /certFile and keyFile/,
    ],
    [
      'TLS settings on plain TCP',
      'audit:\n  syslog: { host: h, port: 514, protocol: tcp, rejectUnauthorized: false }\n',
      /protocol: tls/,
    ],
    [
      'a file that does not exist',
      'audit:\n  syslog: { host: h, port: 6514, protocol: tls, caFile: /nonexistent/ca.pem }\n',
      /caFile.*does not exist/,
    ],
  ])('refuses %s', (_what, yaml, message) => {
    expect(() => load(yaml).config()).toThrow(ConfigError);
    expect(() => load(yaml).config()).toThrow(message);
  });
});
