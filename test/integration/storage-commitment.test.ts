import pg from 'pg';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDataSet, encodeDataSet } from '../../src/dicom/index.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import {
  CommandField,
  type DimseReplyChannel,
  type OtherCommandRequest,
} from '../../src/dimse/index.js';
import { StorageCommitmentService } from '../../src/ingestion/commitment/storage-commitment.service.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';
import { callApi, stowAll } from '../support/wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const COMMITMENT = '1.2.840.10008.1.20.1';
const TS = '1.2.840.10008.1.2.1';

/**
 * The Storage Commitment SCP's decisions, driven directly (the Orthanc test covers the wire and a
 * report on a new association): a report on the same association while it is open, an instance
 * whose only copy is marked missing is not committed, malformed requests are refused.
 */
describe('Storage Commitment: what is committed, and the report on the same association', () => {
  let s: TestStrata;
  let db: pg.Client;
  const instances = [1, 2].map(() => makeInstance({ sopClassUid: CT, studyInstanceUid: newUid() }));

  beforeAll(async () => {
    s = await startTestStrata({ configYaml: "fixity:\n  schedule: 'off'\n" });
    await stowAll(
      s.httpUrl,
      s.auth,
      instances.map((i) => i.part10),
    );
    db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  function request(
    dataset: Parameters<typeof encodeDataSet>[0],
    actionTypeId = 1,
  ): OtherCommandRequest {
    return {
      association: {
        id: 'test',
        callingAet: 'MODALITY',
        calledAet: 'STRATA',
        remoteAddress: '127.0.0.1',
        remotePort: 1,
      },
      presentationContextId: 1,
      abstractSyntaxUid: COMMITMENT,
      transferSyntaxUid: TS,
      command: {
        commandField: CommandField.NActionRq,
        commandDataSetType: 0,
        messageId: 7,
        requestedSopClassUid: COMMITMENT,
        requestedSopInstanceUid: '1.2.840.10008.1.20.1.1',
        actionTypeId,
      },
      data: Readable.from([encodeDataSet(dataset, TS)]),
      signal: new AbortController().signal,
    };
  }

  function channel(): {
    reply: DimseReplyChannel;
    reports: Promise<{ eventTypeId: number; dataset: Buffer }>;
  } {
    let deliver!: (r: { eventTypeId: number; dataset: Buffer }) => void;
    const reports = new Promise<{ eventTypeId: number; dataset: Buffer }>((r) => (deliver = r));
    const reply = {
      sendPending: async () => undefined,
      storageTransferSyntaxes: () => [],
      store: async () => ({ status: 0 }),
      eventReport: async (r: { eventTypeId: number; dataset: Buffer }) => {
        deliver(r);
        return { status: 0 };
      },
    } as unknown as DimseReplyChannel;
    return { reply, reports };
  }

  const refs = (...list: { sopClassUid: string; sopInstanceUid: string }[]) => ({
    vr: 'SQ',
    Value: list.map((r) => ({
      '00081150': { vr: 'UI', Value: [r.sopClassUid] },
      '00081155': { vr: 'UI', Value: [r.sopInstanceUid] },
    })),
  });

  it('reports on the same association: stored instances committed, an unknown one failed (0112)', async () => {
    const svc = s.running.app.get(StorageCommitmentService);
    const transaction = newUid();
    const ghost = newUid();
    const { reply, reports } = channel();
    const rsp = await svc.handle(
      request({
        '00081195': { vr: 'UI', Value: [transaction] },
        '00081199': refs(...instances, { sopClassUid: CT, sopInstanceUid: ghost }),
      }),
      reply,
    );
    expect(rsp?.status).toBe(0);
    const report = await reports;
    expect(report.eventTypeId).toBe(2);
    const ds = decodeDataSet(report.dataset, TS);
    expect(ds['00081195']!.Value).toEqual([transaction]);
    const ok = (ds['00081199']!.Value as Record<string, { Value: string[] }>[]).map(
      (i) => i['00081155']!.Value[0],
    );
    expect(ok.sort()).toEqual(instances.map((i) => i.sopInstanceUid).sort());
    const failed = ds['00081198']!.Value as Record<string, { Value: unknown[] }>[];
    expect(failed.map((i) => [i['00081155']!.Value[0], i['00081197']!.Value[0]])).toEqual([
      [ghost, 0x0112],
    ]);
    const row = await until(async () => {
      const { rows } = await db.query<{ report_via: string | null }>(
        'SELECT report_via FROM commitments WHERE transaction_uid = $1',
        [transaction],
      );
      return rows[0]?.report_via ?? null;
    });
    expect(row).toBe('same-association');
  });

  it('an instance whose only copy is marked missing is not committed', async () => {
    await db.query(
      `UPDATE locations SET status = 'missing' WHERE blob_fk IN (
         SELECT v.blob_fk FROM instances i JOIN instance_versions v ON v.id = i.current_version_fk
          WHERE i.sop_instance_uid = $1)`,
      [instances[1]!.sopInstanceUid],
    );
    const { reply, reports } = channel();
    await s.running.app
      .get(StorageCommitmentService)
      .handle(
        request({ '00081195': { vr: 'UI', Value: [newUid()] }, '00081199': refs(instances[1]!) }),
        reply,
      );
    const ds = decodeDataSet((await reports).dataset, TS);
    expect(ds['00081199']).toBeUndefined();
    expect((ds['00081198']!.Value as unknown[]).length).toBe(1);
  });

  it('refuses malformed requests with a status and a comment, and records nothing', async () => {
    const svc = s.running.app.get(StorageCommitmentService);
    const { reply } = channel();
    const count = async () => (await db.query('SELECT 1 FROM commitments')).rowCount;
    const before = await count();
    const noTransaction = await svc.handle(request({ '00081199': refs(instances[0]!) }), reply);
    expect(noTransaction).toMatchObject({
      status: 0x0115,
      errorComment: expect.stringMatching(/Transaction UID/),
    });
    const empty = await svc.handle(request({ '00081195': { vr: 'UI', Value: [newUid()] } }), reply);
    expect(empty?.status).toBe(0x0115);
    const wrongAction = await svc.handle(
      request({ '00081195': { vr: 'UI', Value: [newUid()] } }, 2),
      reply,
    );
    expect(wrongAction?.status).toBe(0x0123);
    expect(await count()).toBe(before);
    // The source's ledger shows its two recorded requests' instances (none received from it).
    const ledger = await callApi(s, 'GET', '/api/sources/MODALITY/ledger');
    expect(ledger.status).toBe(200);
    expect(ledger.body.summary).toMatchObject({ received: 0, committed: 0 });
    expect((await callApi(s, 'GET', '/api/sources/bad%20%3Bname!/ledger')).status).toBe(400);
  });
});

async function until<T>(check: () => Promise<T | null>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
