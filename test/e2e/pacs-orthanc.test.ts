import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { freePort } from '../support/crash-child.js';
import { hasTool } from '../support/interop.js';
import { datasetOf } from '../support/multipart.js';
import { type OrthancPeer, startOrthanc } from '../support/orthanc.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const run = hasTool('Orthanc');

async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Orthanc as the departmental PACS: it offloads a study to Strata with storage commitment, the
 * ledger proves what it may delete, it deletes the study and gets it back by C-MOVE, unchanged.
 */
describe.runIf(run)('Orthanc offloads to Strata and gets its study back', () => {
  let s: TestStrata;
  let orthanc: OrthancPeer;
  const study = newUid();
  const series = newUid();
  const instances = [1, 2, 3].map((n) =>
    makeInstance({
      studyInstanceUid: study,
      seriesInstanceUid: series,
      sopClassUid: CT,
      patientId: 'PACS-1',
      patientName: 'Offload^Test',
      instanceNumber: n,
      pixelBytes: 64 * 1024,
    }),
  );

  beforeAll(async () => {
    const strataPort = await freePort();
    const orthancPort = await freePort();
    s = await startTestStrata({
      env: { STRATA_DICOM_PORT: String(strataPort) },
      configYaml: `
dicom:
  peers:
    ORTHANC: { host: 127.0.0.1, port: ${orthancPort}, source: radiology-pacs }
fixity:
  schedule: 'off'
`,
    });
    orthanc = await startOrthanc(
      { STRATA: { host: '127.0.0.1', port: strataPort } },
      { dicomPort: orthancPort },
    );
    for (const i of instances) await orthanc.rest('POST', '/instances', i.part10);
  }, 60_000);
  afterAll(async () => {
    await orthanc?.stop();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('C-STORE with storage commitment: every instance committed, and the ledger shows it', async () => {
    const studies = await orthanc.rest<string[]>('GET', '/studies');
    expect(studies).toHaveLength(1);
    const stored = await orthanc.rest<{ StorageCommitmentTransactionUID?: string }>(
      'POST',
      '/modalities/STRATA/store',
      { Resources: studies, StorageCommitment: true, Synchronous: true },
    );
    const transaction = stored.StorageCommitmentTransactionUID;
    expect(transaction).toMatch(/^[0-9.]+$/);
    const report = await until('the commitment report', async () => {
      const r = await orthanc.rest<{ Status: string; Success?: unknown[]; Failures?: unknown[] }>(
        'GET',
        `/storage-commitment/${transaction}`,
      );
      return r.Status === 'Pending' ? null : r;
    });
    expect(report.Status).toBe('Success');
    expect(report.Success).toHaveLength(3);

    const ledger = await callApi(s, 'GET', '/api/sources/radiology-pacs/ledger');
    expect(ledger.status).toBe(200);
    expect(ledger.body.summary).toMatchObject({ received: 3, committed: 3, notCommitted: 0 });
    const rows = ledger.body.instances as { committedAt: string | null; transactionUid: string }[];
    expect(rows.every((r) => r.committedAt !== null && r.transactionUid === transaction)).toBe(
      true,
    );
  });

  it('a commitment request for unknown instances reports them as failures', async () => {
    const ghost = await orthanc.rest<{ ID?: string }>(
      'POST',
      '/modalities/STRATA/storage-commitment',
      { DicomInstances: [[CT, newUid()]], Timeout: 10 },
    );
    const report = await until('the commitment report', async () => {
      const r = await orthanc.rest<{ Status: string; Failures?: unknown[] }>(
        'GET',
        `/storage-commitment/${ghost.ID}`,
      );
      return r.Status === 'Pending' ? null : r;
    });
    expect(report.Status).toBe('Failure');
    expect(report.Failures).toHaveLength(1);
  });

  it('deleted from Orthanc, the study comes back by C-MOVE byte for byte', async () => {
    const [orthancStudy] = await orthanc.rest<string[]>('GET', '/studies');
    await orthanc.rest('DELETE', `/studies/${orthancStudy}`);
    expect(await orthanc.rest<string[]>('GET', '/instances')).toHaveLength(0);
    await orthanc.rest('POST', '/modalities/STRATA/move', {
      Level: 'Study',
      Resources: [{ StudyInstanceUID: study }],
      TargetAet: 'ORTHANC',
      Synchronous: true,
    });
    const back = await orthanc.rest<string[]>('GET', '/instances');
    expect(back).toHaveLength(3);
    const received = new Map<string, Buffer>();
    for (const id of back) {
      const tags = await orthanc.rest<{ SOPInstanceUID: string }>(
        'GET',
        `/instances/${id}/simplified-tags`,
      );
      received.set(tags.SOPInstanceUID, datasetOf(await orthanc.file(id)));
    }
    for (const i of instances) expect(received.get(i.sopInstanceUid)?.equals(i.dataset)).toBe(true);

    const ledger = await callApi(s, 'GET', '/api/sources/radiology-pacs/ledger');
    expect((ledger.body.summary as { fetchedBack: number }).fetchedBack).toBeGreaterThanOrEqual(1);
  });
});
