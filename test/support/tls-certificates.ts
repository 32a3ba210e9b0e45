import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key (PEM files), for 127.0.0.1 and localhost. */
export interface TestIdentity {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** The test CA every identity but `rogue` is signed by. */
  caFile: string;
  /** The archive's certificate (listener, and client certificate on outgoing associations). */
  strata: TestIdentity;
  /** The same with an RSA-2048 key (for the ECDHE-RSA suites). */
  strataRsa: TestIdentity;
  /** A peer's certificate (dcmtk as SCU, and as storescp destination). */
  peer: TestIdentity;
  /** Signed by another CA: a client the archive must not trust. */
  rogue: TestIdentity;
  remove(): void;
}

/**
 * A small PKI made with openssl: a CA, and leaf certificates (ECDSA P-256, one RSA; SAN localhost
 * and 127.0.0.1, for server and client authentication) for the archive and a peer, plus one from
 * a CA nobody trusts. Keys are unencrypted PEM (PKCS #8).
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'strata-pki-'));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name: string, cn: string) =>
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    );
  ca('ca', 'Strata test CA');
  ca('rogue-ca', 'Rogue test CA');
  writeFileSync(
    f('leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  const leaf = (name: string, cn: string, signer: string, key = ec): TestIdentity => {
    openssl(
      'req',
      ...key,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=${cn}/O=Strata tests`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${signer}.pem`),
      '-CAkey',
      f(`${signer}.key`),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      f('leaf.ext'),
    );
    return { certFile: f(`${name}.pem`), keyFile: f(`${name}.key`) };
  };
  return {
    dir,
    caFile: f('ca.pem'),
    strata: leaf('strata', 'strata-archive', 'ca'),
    strataRsa: leaf('strata-rsa', 'strata-archive', 'ca', ['-newkey', 'rsa:2048', '-nodes']),
    peer: leaf('peer', 'dcmtk-peer', 'ca'),
    rogue: leaf('rogue', 'rogue-peer', 'rogue-ca'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
