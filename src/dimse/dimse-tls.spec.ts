// DICOM over TLS, in-process: DimseServer's TLS listener and DimseClient's TLS connect, against
// each other and against Node TLS clients that break the BCP 195 policy. (Against dcmtk, with
// the whole archive: test/e2e/dicom-tls.test.ts.)

import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../../test/support/tls-certificates.js';
import { DimseClient, type DimseClientOptions } from './dimse-client.js';
import { AssociationClosedError } from './errors.js';
import { type Harness, startHarness, waitFor } from './testing/harness.js';
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, part10InMemory } from './testing/part10.js';
import { BCP195_TLS12_CIPHERS, type DimseClientTls, serverTlsOptions } from './tls.js';
import { type AssociationInfo } from './types.js';

let pki: TestPki;
let h: Harness | undefined;
const clients: DimseClient[] = [];

beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());
afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  await h?.server.close(500);
  h = undefined;
});

/** A DimseServer on 127.0.0.1:0 speaking TLS with the archive's certificate. */
async function tlsHarness(requireClientCert: boolean): Promise<{
  h: Harness;
  seen: AssociationInfo[];
  /** Log lines as 'level: message'. */
  logs: string[];
}> {
  const seen: AssociationInfo[] = [];
  const logs: string[] = [];
  h = await startHarness({
    options: {
      tls: {
        certFile: pki.strata.certFile,
        keyFile: pki.strata.keyFile,
        caFile: pki.caFile,
        requireClientCert,
      },
      artimTimeoutMs: 2_000,
      logger: {
        log: (m) => logs.push(`info: ${m}`),
        warn: (m) => logs.push(`warn: ${m}`),
        error: (m) => logs.push(`error: ${m}`),
        debug: (m) => logs.push(`debug: ${m}`),
      },
    },
    handlers: {
      decideAssociation: (info) => {
        seen.push(info);
        return { accept: true };
      },
    },
  });
  return { h, seen, logs };
}

async function connect(
  port: number,
  tls: DimseClientTls | undefined,
  extra: Partial<DimseClientOptions> = {},
): Promise<DimseClient> {
  const client = await DimseClient.connect({
    host: '127.0.0.1',
    port,
    callingAet: 'TLS_SCU',
    calledAet: 'STRATA',
    contexts: [{ abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }],
    connectTimeoutMs: 3_000,
    ...(tls ? { tls } : {}),
    ...extra,
  });
  clients.push(client);
  return client;
}

const peerClient = (): DimseClientTls => ({
  caFile: pki.caFile,
  certFile: pki.peer.certFile,
  keyFile: pki.peer.keyFile,
});

/** A raw TLS handshake with the server, with the given (non-compliant) client settings. */
function handshake(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTls({
      host: '127.0.0.1',
      port,
      ca: readFileSync(pki.caFile),
      cert: readFileSync(pki.peer.certFile),
      key: readFileSync(pki.peer.keyFile),
      ...options,
    });
    socket.once('secureConnect', () => {
      const how = `${socket.getProtocol()} ${socket.getCipher().name}`;
      socket.destroy();
      resolve(how);
    });
    socket.once('error', (e: Error & { code?: string }) => resolve(`error ${e.code ?? e.message}`));
  });
}

describe('the BCP 195 options', () => {
  it('TLS 1.2 at least, ECDHE with AEAD ciphers only, server order', () => {
    const o = serverTlsOptions({ certFile: pki.strata.certFile, keyFile: pki.strata.keyFile });
    expect(o.minVersion).toBe('TLSv1.2');
    expect(o.honorCipherOrder).toBe(true);
    const tls12 = o.ciphers!.split(':').filter((c) => !c.startsWith('TLS_'));
    expect(tls12).toEqual([...BCP195_TLS12_CIPHERS]);
    for (const c of tls12)
      expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    expect(o.requestCert).toBe(false);
  });

  it('a client certificate is asked for, and checked, only when required', () => {
    const o = serverTlsOptions({
      certFile: pki.strata.certFile,
      keyFile: pki.strata.keyFile,
      caFile: pki.caFile,
      requireClientCert: true,
    });
    expect([o.requestCert, o.rejectUnauthorized]).toEqual([true, true]);
    expect(() =>
      serverTlsOptions({
        certFile: pki.strata.certFile,
        keyFile: pki.strata.keyFile,
        requireClientCert: true,
      }),
    ).toThrow(/requireClientCert needs caFile/);
  });
});

describe('DimseServer over TLS', () => {
  it('serves an association over TLS; its info carries the protocol and the client subject', async () => {
    const { h, seen, logs } = await tlsHarness(true);
    expect(logs).toContain(`info: DIMSE SCP STRATA listening on 127.0.0.1:${h.port} (TLS)`);
    const client = await connect(h.port, peerClient());
    const { dataset } = part10InMemory({
      sopInstanceUid: '1.2.3.4.5.6',
      pixelBytes: 4096,
      seed: 1,
    });
    const r = await client.store({
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: '1.2.3.4.5.6',
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      data: Readable.from([dataset]),
    });
    expect(r.status).toBe(0);
    await client.release();
    expect(h.stores).toHaveLength(1);
    expect(h.stores[0]!.bytes!.equals(dataset)).toBe(true);
    expect(seen[0]!.tls).toEqual({
      protocol: 'TLSv1.3',
      cipher: expect.stringMatching(/^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/),
      peerSubject: 'CN=dcmtk-peer,O=Strata tests',
    });
  });

  it('TLS 1.2 with a BCP 195 cipher is accepted', async () => {
    const { h } = await tlsHarness(true);
    expect(await handshake(h.port, { maxVersion: 'TLSv1.2' })).toBe(
      'TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384',
    );
    expect(
      await handshake(h.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }),
    ).toBe('TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305');
  });

  it.each([
    ['TLS 1.1', { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }],
    ['a CBC cipher in TLS 1.2', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' }],
    ['a non-ECDHE key exchange', { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' }],
  ] as [string, ConnectionOptions][])(
    'refuses %s, with a warning naming the peer',
    async (_what, options) => {
      const { h, logs } = await tlsHarness(false);
      expect(await handshake(h.port, options)).toMatch(/^error /);
      await waitFor(() =>
        logs.some((l) =>
          /^warn: DIMSE TLS handshake with 127\.0\.0\.1:\d+ failed: ERR_SSL_/.test(l),
        ),
      );
    },
  );

  it.each([
    ['without a certificate', false, /failed: ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE/],
    [
      'with a certificate of an unknown CA',
      true,
      /failed: client certificate not accepted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    ],
  ] as const)(
    'requireClientCert: refuses a client %s, says why, and serves the next',
    async (_what, rogue, why) => {
      const { h, seen, logs } = await tlsHarness(true);
      const tls: DimseClientTls = rogue
        ? { caFile: pki.caFile, certFile: pki.rogue.certFile, keyFile: pki.rogue.keyFile }
        : { caFile: pki.caFile };
      await expect(connect(h.port, tls)).rejects.toThrow();
      await waitFor(() =>
        logs.some((l) => l.startsWith('warn: DIMSE TLS handshake with 127.0.0.1:')),
      );
      expect(logs.filter((l) => l.startsWith('warn: '))).toEqual([expect.stringMatching(why)]);
      expect(seen).toHaveLength(0);
      const ok = await connect(h.port, peerClient());
      await ok.release();
      expect(seen).toHaveLength(1);
    },
  );

  it('without requireClientCert, a client without a certificate is served (no subject)', async () => {
    const { h, seen } = await tlsHarness(false);
    const client = await connect(h.port, { caFile: pki.caFile });
    await client.release();
    expect(seen[0]!.tls?.protocol).toBe('TLSv1.3');
    expect(seen[0]!.tls?.peerSubject).toBeUndefined();
  });

  it('a plain DICOM client fails cleanly and the listener keeps serving', async () => {
    const { h, logs } = await tlsHarness(false);
    const failure = await connect(h.port, undefined).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AssociationClosedError);
    await waitFor(() =>
      logs.some((l) => /^warn: .*handshake with .* failed: ERR_SSL_WRONG_VERSION_NUMBER/.test(l)),
    );
    const ok = await connect(h.port, peerClient());
    await ok.release();
  });

  it('a connection that never handshakes is logged at debug only, and cut at shutdown', async () => {
    const { h, logs } = await tlsHarness(false);
    // A TCP health check: connect, close.
    await new Promise<void>((resolve) => {
      const probe = connectTcp({ host: '127.0.0.1', port: h.port }, () => probe.end());
      probe.on('close', () => resolve());
    });
    // And one that stays silent: shutdown does not wait for its handshake timeout.
    const silent = connectTcp({ host: '127.0.0.1', port: h.port });
    await new Promise((r) => silent.once('connect', r));
    const closedAt = new Promise<number>((r) => silent.once('close', () => r(Date.now())));
    const started = Date.now();
    await h.server.close(100);
    expect((await closedAt) - started).toBeLessThan(1_500);
    const handshakes = logs.filter((l) => l.includes('DIMSE TLS handshake'));
    expect(handshakes).toHaveLength(2);
    for (const l of handshakes) expect(l).toMatch(/^debug: .* failed: ECONNRESET/);
  });
});

describe('DimseClient over TLS', () => {
  it("checks the server's certificate: its CA, and the name it must carry", async () => {
    const { h } = await tlsHarness(false);
    // The system CAs do not know the test CA.
    await expect(connect(h.port, {})).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    // A name the certificate does not carry (it has localhost and 127.0.0.1).
    await expect(
      connect(h.port, { caFile: pki.caFile, serverName: 'pacs.example' }),
    ).rejects.toThrow(/pacs\.example/);
    const byName = await connect(h.port, { caFile: pki.caFile, serverName: 'localhost' });
    await byName.release();
    const byAddress = await connect(h.port, { caFile: pki.caFile });
    await byAddress.release();
  });

  it('a TLS client at a plain listener fails to connect', async () => {
    h = await startHarness({ options: { artimTimeoutMs: 1_000 } });
    await expect(connect(h.port, { caFile: pki.caFile })).rejects.toThrow();
  });
});
