import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { type RunningTool, startListeningTool } from '../../src/dimse/testing/harness.js';
import { freePort } from '../support/crash-child.js';
import { hasTool, runTool } from '../support/interop.js';
import { datasetOf } from '../support/multipart.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { stowAll } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const run = hasTool('movescu') && hasTool('getscu') && hasTool('storescp');
type Instance = ReturnType<typeof makeInstance>;

/**
 * dcmtk's movescu and getscu against Strata at every level (Study Root and Patient Root): the
 * files a destination receives are the stored data sets, byte for byte. Also the failures: an
 * unknown destination, a destination that refuses or is not there, and a cancelled C-MOVE.
 */
describe.runIf(run)('C-MOVE and C-GET with dcmtk', () => {
  let s: TestStrata;
  let storescp: RunningTool;
  let refuser: RunningTool;
  let received: string;
  const patient = 'QR-1';
  const studyA = newUid();
  const studyB = newUid();
  const series = [newUid(), newUid()];
  let a: Instance[];
  let b: Instance[];
  let big: Instance[];
  const bigStudy = newUid();
  let dropperPort = 0;

  const args = (level: string, keys: Record<string, string>, root = '-S') => [
    root,
    '-aet',
    'DCMTK',
    '-aec',
    'STRATA',
    '127.0.0.1',
    String(s.dicomPort),
    '-k',
    `QueryRetrieveLevel=${level}`,
    ...Object.entries(keys).flatMap(([k, v]) => ['-k', `${k}=${v}`]),
  ];
  const files = () =>
    new Map(
      readdirSync(received).map((f) => {
        const bytes = readFileSync(join(received, f));
        return [f, datasetOf(bytes)] as const;
      }),
    );
  const expectReceived = (instances: Instance[]) => {
    const got = [...files().values()];
    expect(got).toHaveLength(instances.length);
    for (const i of instances) expect(got.some((d) => d.equals(i.dataset))).toBe(true);
  };

  beforeAll(async () => {
    received = mkdtempSync(join(tmpdir(), 'strata-move-dest-'));
    const destPort = await freePort();
    const refusePort = await freePort();
    const deadPort = await freePort();
    dropperPort = await freePort();
    storescp = await startListeningTool(
      'storescp',
      ['-aet', 'STORESCP', '-od', received, String(destPort)],
      destPort,
    );
    refuser = await startListeningTool('storescp', ['--refuse', String(refusePort)], refusePort);
    s = await startTestStrata({
      configYaml: `
dicom:
  peers:
    STORESCP: { host: 127.0.0.1, port: ${destPort} }
    REFUSER: { host: 127.0.0.1, port: ${refusePort} }
    GONE: { host: 127.0.0.1, port: ${deadPort} }
    DROPPER: { host: 127.0.0.1, port: ${dropperPort} }
fixity:
  schedule: 'off'
`,
    });
    const make = (study: string, se: string, n: number, pixelBytes = 4096) =>
      makeInstance({
        studyInstanceUid: study,
        seriesInstanceUid: se,
        sopClassUid: CT,
        patientId: patient,
        instanceNumber: n,
        pixelBytes,
      });
    a = [make(studyA, series[0]!, 1), make(studyA, series[0]!, 2), make(studyA, series[1]!, 3)];
    b = [make(studyB, newUid(), 1)];
    const bigSeries = newUid();
    big = Array.from({ length: 40 }, (_, n) => make(bigStudy, bigSeries, n + 1, 1024 * 1024));
    await stowAll(
      s.httpUrl,
      s.auth,
      [...a, ...b].map((i) => i.part10),
    );
    for (let n = 0; n < big.length; n += 10) {
      await stowAll(
        s.httpUrl,
        s.auth,
        big.slice(n, n + 10).map((i) => i.part10),
      );
    }
  }, 120_000);
  beforeEach(() => {
    for (const f of readdirSync(received)) rmSync(join(received, f));
  });
  afterAll(async () => {
    await storescp?.stop();
    await refuser?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
    rmSync(received, { recursive: true, force: true });
  });

  it.each([
    ['STUDY', () => ({ StudyInstanceUID: studyA }), () => a],
    [
      'SERIES',
      () => ({ StudyInstanceUID: studyA, SeriesInstanceUID: series[0]! }),
      () => a.slice(0, 2),
    ],
    [
      'IMAGE',
      () => ({
        StudyInstanceUID: studyA,
        SeriesInstanceUID: series[0]!,
        SOPInstanceUID: a[1]!.sopInstanceUid,
      }),
      () => [a[1]!],
    ],
  ])('C-MOVE, Study Root, %s level', async (level, keys, expected) => {
    const r = await runTool('movescu', ['-aem', 'STORESCP', ...args(level, keys())]);
    expect(r.code, r.stderr).toBe(0);
    expectReceived(expected());
  });

  it('C-MOVE, Patient Root, PATIENT level: every study of the patient', async () => {
    const r = await runTool('movescu', [
      '-aem',
      'STORESCP',
      ...args('PATIENT', { PatientID: patient }, '-P'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expectReceived([...a, ...b, ...big]);
  });

  it('C-GET on the same association, Study Root and Patient Root', async () => {
    const out = mkdtempSync(join(tmpdir(), 'strata-get-'));
    try {
      let r = await runTool('getscu', [...args('STUDY', { StudyInstanceUID: studyA }), '-od', out]);
      expect(r.code, r.stderr).toBe(0);
      let got = readdirSync(out).map((f) => datasetOf(readFileSync(join(out, f))));
      expect(got).toHaveLength(3);
      for (const i of a) expect(got.some((d) => d.equals(i.dataset))).toBe(true);
      for (const f of readdirSync(out)) rmSync(join(out, f));
      r = await runTool('getscu', [
        ...args(
          'SERIES',
          {
            PatientID: patient,
            StudyInstanceUID: studyB,
            SeriesInstanceUID: b[0]!.seriesInstanceUid,
          },
          '-P',
        ),
        '-od',
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      got = readdirSync(out).map((f) => datasetOf(readFileSync(join(out, f))));
      expect(got.map((d) => d.equals(b[0]!.dataset))).toEqual([true]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('an unknown destination: A801, nothing sent', async () => {
    const r = await runTool('movescu', [
      '-v',
      '-aem',
      'NOWHERE',
      ...args('STUDY', { StudyInstanceUID: studyA }),
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Refused: MoveDestinationUnknown/);
    expect(files().size).toBe(0);
  });

  it.each([
    ['refuses the association', 'REFUSER'],
    ['is not there', 'GONE'],
  ])('a destination that %s: the sub-operations fail (A702)', async (_what, ae) => {
    const r = await runTool('movescu', [
      '-v',
      '-aem',
      ae,
      ...args('STUDY', { StudyInstanceUID: studyA }),
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Refused: OutOfResourcesSubOperations/);
  });

  it('a destination that dies mid-transfer: the rest fail, the archive goes on serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-move-dropper-'));
    const dropper = await startListeningTool(
      'storescp',
      ['-aet', 'DROPPER', '-od', dir, String(dropperPort)],
      dropperPort,
    );
    try {
      const moving = runTool('movescu', [
        '-v',
        '-aem',
        'DROPPER',
        ...args('STUDY', { StudyInstanceUID: bigStudy }),
      ]);
      // Killed as soon as the first instance has arrived.
      const deadline = Date.now() + 30_000;
      while (readdirSync(dir).length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      dropper.child.kill('SIGKILL');
      const r = await moving;
      expect(`${r.stdout}${r.stderr}`).toMatch(/Final Move Response \((Warning|Refused|Failed)/);
      expect(readdirSync(dir).length).toBeLessThan(big.length);
    } finally {
      await dropper.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const again = await runTool('movescu', [
      '-aem',
      'STORESCP',
      ...args('STUDY', { StudyInstanceUID: studyA }),
    ]);
    expect(again.code, again.stderr).toBe(0);
    expectReceived(a);
  });

  it('a cancelled C-MOVE stops between sub-operations', async () => {
    const r = await runTool('movescu', [
      '-v',
      '--cancel',
      '1',
      '-aem',
      'STORESCP',
      ...args('STUDY', { StudyInstanceUID: bigStudy }),
    ]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Final Move Response \(Cancel/);
    const sent = files().size;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(big.length);
  });
});
