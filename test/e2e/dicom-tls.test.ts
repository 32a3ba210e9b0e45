import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { DimsePullAdapter } from '../../src/ingestion/index.js';
import { type RunningTool, startListeningTool } from '../../src/dimse/testing/harness.js';
import { freePort } from '../support/crash-child.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf } from '../support/multipart.js';
import { stowAll } from '../support/wado-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { makeTestPki, type TestPki } from '../support/tls-certificates.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const run = hasTool('storescu') && hasTool('findscu') && hasTool('storescp') && hasTool('movescu');
type Instance = ReturnType<typeof makeInstance>;

/**
 * DICOM over TLS with dcmtk 3.6.7 (its default BCP 195 non-downgrading profile): storescu and
 * findscu at the TLS port with a client certificate; clients without one, with an untrusted one,
 * or without TLS at all are refused while the listener keeps serving; and a C-MOVE to a
 * destination that requires TLS and a client certificate (storescp in TLS mode) reaches it.
 */
describe.runIf(run)('DICOM TLS with dcmtk', () => {
  let pki: TestPki;
  let s: TestStrata;
  let work: string;
  let received: string;
  let tlsDest: RunningTool;
  let rogueDest: RunningTool;
  const patient = 'TLS-1';

  const tlsPort = () => String(s.running.dicomTlsPort);
  /** dcmtk's TLS options: our key and certificate, and the CA the archive's must chain to. */
  const tls = (who: { certFile: string; keyFile: string } = pki.peer) => [
    '+tls',
    who.keyFile,
    who.certFile,
    '+cf',
    pki.caFile,
  ];
  const instance = (study = newUid()): Instance & { file: string } => {
    const i = makeInstance({
      studyInstanceUid: study,
      seriesInstanceUid: newUid(),
      sopClassUid: CT,
      patientId: patient,
      pixelBytes: 4096,
    });
    const file = join(work, `${i.sopInstanceUid}.dcm`);
    writeFileSync(file, i.part10);
    return { ...i, file };
  };
  const storescu = (file: string, port: string, extra: string[]) =>
    runTool('storescu', ['-aet', 'TLS-SCU', '-aec', 'STRATA', ...extra, '127.0.0.1', port, file]);
  /** Study UIDs QIDO-RS finds for a study (empty: not stored). */
  const stored = async (study: string): Promise<number> => {
    const r = await fetch(`${s.httpUrl}/dicomweb/studies?StudyInstanceUID=${study}`, {
      headers: { authorization: s.auth, accept: 'application/dicom+json' },
    });
    return r.status === 204 ? 0 : ((await r.json()) as unknown[]).length;
  };

  beforeAll(async () => {
    pki = makeTestPki();
    work = mkdtempSync(join(tmpdir(), 'strata-tls-'));
    received = mkdtempSync(join(tmpdir(), 'strata-tls-dest-'));
    const destPort = await freePort();
    const roguePort = await freePort();
    // storescp in TLS mode requires (and verifies) the client certificate by default (-rc).
    tlsDest = await startListeningTool(
      'storescp',
      ['-aet', 'TLSDEST', ...tls(pki.peer), '-od', received, String(destPort)],
      destPort,
    );
    // A destination whose certificate the archive cannot verify.
    rogueDest = await startListeningTool(
      'storescp',
      ['-aet', 'ROGUEDEST', ...tls(pki.rogue), '-ic', '-od', received, String(roguePort)],
      roguePort,
    );
    s = await startTestStrata({
      configYaml: `
dicom:
  tls:
    port: 0
    certFile: ${pki.strata.certFile}
    keyFile: ${pki.strata.keyFile}
    caFile: ${pki.caFile}
    requireClientCert: true
  peers:
    TLSDEST: { host: 127.0.0.1, port: ${destPort}, tls: true }
    ROGUEDEST: { host: 127.0.0.1, port: ${roguePort}, tls: true }
fixity:
  schedule: 'off'
`,
    });
  }, 120_000);
  beforeEach(() => {
    for (const f of readdirSync(received)) rmSync(join(received, f));
  });
  afterAll(async () => {
    await tlsDest?.stop();
    await rogueDest?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
    pki?.remove();
    for (const d of [work, received]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('listens on a TLS port of its own beside the plain one, and reports both', async () => {
    expect(s.running.dicomTlsPort).toBeGreaterThan(0);
    expect(s.running.dicomTlsPort).not.toBe(s.dicomPort);
    const res = await fetch(`${s.httpUrl}/api/sources`, { headers: { authorization: s.auth } });
    const { adapters } = (await res.json()) as {
      adapters: { id: string; health: { ok: boolean; detail: string } }[];
    };
    expect(adapters.find((a) => a.id === 'dimse-push')?.health).toEqual({
      ok: true,
      detail: `STRATA listening on port ${s.dicomPort}, TLS port ${s.running.dicomTlsPort}`,
    });
  });

  it('storescu stores over TLS with a client certificate, and findscu finds it over TLS', async () => {
    const i = instance();
    const r = await storescu(i.file, tlsPort(), tls());
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(await stored(i.studyInstanceUid)).toBe(1);

    const out = mkdtempSync(join(work, 'find-'));
    const f = await runTool('findscu', [
      '-S',
      ...tls(),
      '-aet',
      'TLS-SCU',
      '-aec',
      'STRATA',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${i.studyInstanceUid}`,
      '-k',
      'PatientID',
      '-X',
      '-od',
      out,
      '127.0.0.1',
      tlsPort(),
    ]);
    expect(f.code, `${f.stdout}${f.stderr}`).toBe(0);
    const responses = readdirSync(out).filter((n) => /^rsp\d+\.dcm$/.test(n));
    expect(responses).toHaveLength(1);
    const match = readFileSync(join(out, responses[0]!)).toString('latin1');
    expect(match).toContain(i.studyInstanceUid);
    expect(match).toContain(patient);
  });

  it.each([
    ['without a certificate (anonymous TLS)', () => ['+tla', '+cf', pki.caFile]],
    ['with a certificate of a CA it does not trust', () => tls(pki.rogue)],
  ])('refuses a client %s, and keeps serving', async (_what, args) => {
    const refused = instance();
    const r = await storescu(refused.file, tlsPort(), args());
    expect(r.code).not.toBe(0);
    expect(await stored(refused.studyInstanceUid)).toBe(0);
    const next = instance();
    expect((await storescu(next.file, tlsPort(), tls())).code).toBe(0);
    expect(await stored(next.studyInstanceUid)).toBe(1);
  });

  it('a plain DICOM client at the TLS port fails cleanly; both ports keep serving', async () => {
    const plain = instance();
    const r = await storescu(plain.file, tlsPort(), []);
    expect(r.code).not.toBe(0);
    expect(await stored(plain.studyInstanceUid)).toBe(0);
    // And TLS at the plain port fails too.
    expect((await storescu(plain.file, String(s.dicomPort), tls())).code).not.toBe(0);
    expect((await storescu(plain.file, String(s.dicomPort), [])).code).toBe(0);
    const next = instance();
    expect((await storescu(next.file, tlsPort(), tls())).code).toBe(0);
    expect(await stored(next.studyInstanceUid)).toBe(1);
  });

  it('C-MOVE to a destination that requires TLS and a client certificate', async () => {
    const study = newUid();
    const a = instance(study);
    const b = instance(study);
    for (const i of [a, b]) expect((await storescu(i.file, tlsPort(), tls())).code).toBe(0);
    const r = await runTool('movescu', [
      '-S',
      '-aet',
      'MOVE-SCU',
      '-aec',
      'STRATA',
      '-aem',
      'TLSDEST',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
      '127.0.0.1',
      String(s.dicomPort),
    ]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const got = readdirSync(received).map((f) => datasetOf(readFileSync(join(received, f))));
    expect(got).toHaveLength(2);
    for (const i of [a, b]) expect(got.some((d) => d.equals(i.dataset))).toBe(true);
  });

  it('C-MOVE to a TLS destination whose certificate does not verify: nothing is sent', async () => {
    const study = newUid();
    const a = instance(study);
    expect((await storescu(a.file, tlsPort(), tls())).code).toBe(0);
    const r = await runTool('movescu', [
      '-v',
      '-S',
      '-aet',
      'MOVE-SCU',
      '-aec',
      'STRATA',
      '-aem',
      'ROGUEDEST',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
      '127.0.0.1',
      String(s.dicomPort),
    ]);
    // The archive cannot open the destination's association: the sub-operations fail (A702).
    expect(`${r.stdout}${r.stderr}`).toMatch(
      /Final Move Response \(Refused: OutOfResourcesSubOperations\)/,
    );
    expect(readdirSync(received)).toHaveLength(0);
    expect(rogueDest.output()).not.toMatch(/Received Store Request/);
  });
});

describe('DICOM TLS listener start-up', () => {
  it('a TLS port in use stops the start, naming dicom.tls, and leaves no listener behind', async () => {
    const pki = makeTestPki();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen({ host: '127.0.0.1', port: 0 }, r));
    const busyPort = (busy.address() as AddressInfo).port;
    const plainPort = await freePort();
    try {
      await expect(
        startTestStrata({
          env: { STRATA_DICOM_PORT: String(plainPort) },
          configYaml: `
dicom:
  tls: { port: ${busyPort}, certFile: ${pki.strata.certFile}, keyFile: ${pki.strata.keyFile} }
fixity:
  schedule: 'off'
`,
        }),
      ).rejects.toThrow(new RegExp(`dicom\\.tls \\(127\\.0\\.0\\.1:${busyPort}\\): .*EADDRINUSE`));
      // The plain listener, started first, was closed again.
      const refused = await new Promise<boolean>((resolve) => {
        const probe = connect({ host: '127.0.0.1', port: plainPort }, () => {
          probe.destroy();
          resolve(false);
        });
        probe.once('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    } finally {
      busy.close();
      pki.remove();
    }
  });
});

describe('a pull from a PACS that speaks only TLS (another Strata, requiring a client certificate)', () => {
  let pki: TestPki;
  let pacs: TestStrata;
  let s: TestStrata;

  beforeAll(async () => {
    pki = makeTestPki();
    pacs = await startTestStrata({
      env: { STRATA_AET: 'PACSB' },
      configYaml: `
dicom:
  tls: { port: 0, certFile: ${pki.peer.certFile}, keyFile: ${pki.peer.keyFile}, caFile: ${pki.caFile}, requireClientCert: true }
fixity:
  schedule: 'off'
`,
    });
    s = await startTestStrata({
      configYaml: `
dicom:
  peers:
    PACSB:
      host: 127.0.0.1
      port: ${pacs.running.dicomTlsPort}
      tls: { caFile: ${pki.caFile}, certFile: ${pki.strata.certFile}, keyFile: ${pki.strata.keyFile} }
sources:
  tls-pacs:
    adapter: dimse-pull
    peer: PACSB
    retrieve: get
    accessionNumbers: [ACC-TLS]
fixity:
  schedule: 'off'
`,
    });
  }, 120_000);
  afterAll(async () => {
    for (const x of [s, pacs]) {
      await x?.stop();
      if (x) removeDataDir(x.dataDir);
    }
    pki?.remove();
  });

  it('C-FIND and C-GET over TLS bring the study over, byte for byte', async () => {
    const study = newUid();
    const series = newUid();
    const instances = [1, 2].map((n) =>
      makeInstance({
        studyInstanceUid: study,
        seriesInstanceUid: series,
        sopClassUid: CT,
        patientId: 'TLS-PULL',
        accession: 'ACC-TLS',
        instanceNumber: n,
        pixelBytes: 2048,
      }),
    );
    await stowAll(
      pacs.httpUrl,
      pacs.auth,
      instances.map((i) => i.part10),
    );
    const r = await s.running.app.get(DimsePullAdapter).run('tls-pacs');
    expect(r!.error).toBeNull();
    expect(r).toMatchObject({ fetched: 2, stored: 2, refused: 0 });
    for (const i of instances) {
      const res = await fetch(
        `${s.httpUrl}/dicomweb/studies/${study}/series/${series}/instances/${i.sopInstanceUid}`,
        {
          headers: { authorization: s.auth, accept: 'multipart/related; type="application/dicom"' },
        },
      );
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.includes(i.dataset)).toBe(true);
    }
  });
});
