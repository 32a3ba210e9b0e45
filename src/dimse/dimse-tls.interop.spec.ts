// DimseServer's TLS listener against dcmtk's echoscu and its TLS security profiles: the BCP 195
// ones connect, the retired ones (AES: TLS_RSA_WITH_AES_*_CBC_SHA; NULL: no encryption) find no
// cipher in common, with an ECDSA and with an RSA server certificate alike. Without dcmtk these
// tests are skipped, unless STRATA_REQUIRE_INTEROP=1 (CI), where that fails.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTestPki,
  type TestIdentity,
  type TestPki,
} from '../../test/support/tls-certificates.js';
import { type Harness, runTool, startHarness, toolAvailable, waitFor } from './testing/harness.js';

const hasEchoscu = toolAvailable('echoscu');
const requireInterop = process.env.STRATA_REQUIRE_INTEROP === '1';

describe('dcmtk availability (TLS)', () => {
  it('has echoscu on PATH (required when STRATA_REQUIRE_INTEROP=1)', (ctx) => {
    if (hasEchoscu) return;
    if (requireInterop) expect.fail('echoscu not on PATH but STRATA_REQUIRE_INTEROP=1');
    ctx.skip('dcmtk (echoscu) not installed: DICOM TLS interop tests skipped');
  });
});

describe.runIf(hasEchoscu)('DICOM TLS profiles of dcmtk against DimseServer', () => {
  let pki: TestPki;
  let h: Harness | undefined;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.remove());
  afterEach(async () => {
    await h?.server.close(500);
    h = undefined;
  });

  const serve = async (identity: TestIdentity) => {
    h = await startHarness({
      options: { tls: { ...identity, caFile: pki.caFile, requireClientCert: true } },
    });
    return h;
  };
  const echo = (port: number, profile: string) =>
    runTool('echoscu', [
      '+tls',
      pki.peer.keyFile,
      pki.peer.certFile,
      '+cf',
      pki.caFile,
      profile,
      '-aet',
      'ECHO-SCU',
      '-aec',
      'STRATA',
      '127.0.0.1',
      String(port),
    ]);

  describe.each([
    ['an ECDSA', () => pki.strata],
    ['an RSA', () => pki.strataRsa],
  ])('with %s certificate', (_what, identity) => {
    it.each([
      ['+py', 'Non-downgrading BCP 195'],
      ['+px', 'BCP 195'],
      ['+pz', 'Extended BCP 195'],
    ])('echoscu %s (%s) connects', async (profile) => {
      const { port, closed } = await serve(identity());
      const r = await echo(port, profile);
      expect(r.code, r.output).toBe(0);
      await waitFor(() => closed.length > 0);
      expect(closed.map((c) => c.how)).toEqual(['released']);
      expect(closed[0]!.info.tls).toMatchObject({ peerSubject: 'CN=dcmtk-peer,O=Strata tests' });
    });

    it.each([
      ['+pa', 'AES, retired'],
      ['+pn', 'NULL, retired'],
    ])('echoscu %s (%s) is refused: no shared cipher', async (profile) => {
      const { port, logs, closed } = await serve(identity());
      const r = await echo(port, profile);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/TLS error/);
      expect(
        logs.some((l) =>
          /handshake with 127\.0\.0\.1:\d+ failed: ERR_SSL_NO_SHARED_CIPHER/.test(l),
        ),
      ).toBe(true);
      expect(closed).toEqual([]);
    });
  });
});
