import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { type AuditEvent, type AuditService } from '../audit/index.js';
import {
  type CatalogReadService,
  type DicomJsonDataset,
  SearchError,
  type SearchResult,
} from '../catalog/index.js';
import { type StrataConfig } from '../config/index.js';
import { decodeDataSet, encodeDataSet, TransferSyntax } from '../dicom/index.js';
import {
  type DimseReplyChannel,
  type DimseResponse,
  DimseServiceRegistry,
  type OtherCommandRequest,
} from '../dimse/index.js';
import { PATIENT_ROOT_FIND, STUDY_ROOT_FIND } from './c-find-identifier.js';
import { CFindScp, MAX_FIND_MATCHES } from './c-find-scp.js';

const EXPLICIT = TransferSyntax.ExplicitVRLittleEndian;
const STUDY_UID = '1.2.826.0.1.3680043.8.498.10';

function study(n: number, name = `Doe^${n}`): DicomJsonDataset {
  return {
    '00100010': { vr: 'PN', Value: [{ Alphabetic: name }] },
    '00100020': { vr: 'LO', Value: ['P1'] },
    '0020000D': { vr: 'UI', Value: [`${STUDY_UID}.${n}`] },
  };
}

function setup(found: SearchResult | Error = { results: [study(1), study(2)], more: false }) {
  const run = vi.fn(async () => {
    if (found instanceof Error) throw found;
    return found;
  });
  const catalog = { search: run, searchPatients: run };
  const recordAlone = vi.fn(async (_event: AuditEvent) => undefined);
  const config = { dicom: { aeTitle: 'STRATA' } } as StrataConfig;
  const registry = new DimseServiceRegistry();
  const scp = new CFindScp(
    catalog as unknown as CatalogReadService,
    { recordAlone } as unknown as AuditService,
    config,
    registry,
  );
  return { scp, catalog, recordAlone, registry };
}

interface Call {
  req: OtherCommandRequest;
  sent: DimseResponse[];
  controller: AbortController;
}

function request(
  identifier: DicomJsonDataset | Buffer | null,
  { sopClass = STUDY_ROOT_FIND, ts = EXPLICIT, commandField = 0x0020 } = {},
): Call {
  const controller = new AbortController();
  const bytes =
    identifier === null || Buffer.isBuffer(identifier) ? identifier : encodeDataSet(identifier, ts);
  const req: OtherCommandRequest = {
    association: {
      id: 'assoc-1',
      callingAet: 'VIEWER',
      calledAet: 'STRATA',
      remoteAddress: '10.0.0.7',
      remotePort: 50000,
    },
    presentationContextId: 1,
    abstractSyntaxUid: sopClass,
    transferSyntaxUid: ts,
    command: { commandField, commandDataSetType: 0, messageId: 7, affectedSopClassUid: sopClass },
    data: bytes === null ? null : Readable.from([bytes]),
    signal: controller.signal,
  };
  return { req, sent: [], controller };
}

/** A reply channel that records pending responses (C-FIND uses nothing else). */
function channel(sendPending: (r: DimseResponse) => Promise<void>): DimseReplyChannel {
  const unused = () => Promise.reject(new Error('not used by C-FIND'));
  return { sendPending, storageTransferSyntaxes: () => [], store: unused, eventReport: unused };
}

async function handle(scp: CFindScp, call: Call) {
  return scp.handle(
    call.req,
    channel(async (r) => {
      call.sent.push(r);
    }),
  );
}

const studyQuery: DicomJsonDataset = {
  '00080052': { vr: 'CS', Value: ['STUDY'] },
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe*' }] },
  '0020000D': { vr: 'UI' },
};

describe('CFindScp', () => {
  it('serves the FIND SOP classes of both models and only C-FIND-RQ', async () => {
    const { scp, registry } = setup();
    expect(registry.accepts(STUDY_ROOT_FIND)).toBe(false);
    scp.onModuleInit();
    expect(registry.accepts(STUDY_ROOT_FIND)).toBe(true);
    expect(registry.accepts(PATIENT_ROOT_FIND)).toBe(true);
    expect(scp.sopClasses).toEqual([PATIENT_ROOT_FIND, STUDY_ROOT_FIND]);
    expect(await handle(scp, request(studyQuery, { commandField: 0x0021 }))).toBeUndefined();
    expect(
      await handle(scp, request(studyQuery, { sopClass: '1.2.840.10008.5.1.4.1.2.2.2' })),
    ).toBeUndefined();
  });

  it('one pending response per match with exactly the keys, then success', async () => {
    const { scp, catalog } = setup();
    const call = request(studyQuery);
    expect(await handle(scp, call)).toEqual({ status: 0x0000 });
    expect(catalog.search).toHaveBeenCalledWith(
      {
        level: 'study',
        keys: [
          { key: 'PatientName', value: 'Doe*' },
          { key: 'StudyInstanceUID', value: '' },
        ],
        includeFields: [],
        defaultFields: false,
        limit: MAX_FIND_MATCHES,
        offset: 0,
      },
      '',
    );
    expect(call.sent.map((r) => r.status)).toEqual([0xff00, 0xff00]);
    const first = decodeDataSet(call.sent[0]!.dataset!, EXPLICIT);
    expect(first).toEqual({
      '00080052': { vr: 'CS', Value: ['STUDY'] },
      '00080054': { vr: 'AE', Value: ['STRATA'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^1' }] },
      '0020000D': { vr: 'UI', Value: [`${STUDY_UID}.1`] },
    });
  });

  it('patient level: the patient search; unsupported keys give 0xFF01 and are left out', async () => {
    const { scp, catalog } = setup({ results: [study(1)], more: false });
    const call = request(
      {
        '00080052': { vr: 'CS', Value: ['PATIENT'] },
        '00080020': { vr: 'DA' },
        '00100020': { vr: 'LO', Value: ['P1'] },
        '00201200': { vr: 'IS' },
      },
      { sopClass: PATIENT_ROOT_FIND },
    );
    expect(await handle(scp, call)).toEqual({ status: 0x0000 });
    expect(catalog.searchPatients).toHaveBeenCalledWith({
      keys: [
        { key: 'PatientID', value: 'P1' },
        { key: 'NumberOfPatientRelatedStudies', value: '' },
      ],
      limit: MAX_FIND_MATCHES,
    });
    expect(call.sent.map((r) => r.status)).toEqual([0xff01]);
    expect(Object.keys(decodeDataSet(call.sent[0]!.dataset!, EXPLICIT))).toEqual([
      '00080052',
      '00080054',
      '00100020',
      '00201200',
    ]);
  });

  it('audits each query like QIDO-RS: keys without values, calling AE and address', async () => {
    const { scp, recordAlone } = setup();
    await handle(scp, request(studyQuery));
    expect(recordAlone).toHaveBeenCalledTimes(1);
    expect(recordAlone).toHaveBeenCalledWith({
      actor: 'VIEWER',
      actorHost: '10.0.0.7',
      role: null,
      action: 'study.queried',
      outcome: 'success',
      studyInstanceUid: null,
      instances: null,
      detail: {
        protocol: 'DIMSE C-FIND',
        model: 'study-root',
        level: 'study',
        keys: ['PatientName', 'StudyInstanceUID'],
        results: 2,
        calledAet: 'STRATA',
        association: 'assoc-1',
      },
    });
    expect(JSON.stringify(recordAlone.mock.calls)).not.toContain('Doe');
  });

  it('C-CANCEL stops the pending responses and is answered 0xFE00', async () => {
    const { scp } = setup({ results: [1, 2, 3, 4].map((n) => study(n)), more: false });
    const call = request(studyQuery);
    const result = await scp.handle(
      call.req,
      channel(async (r) => {
        call.sent.push(r);
        if (call.sent.length === 2) call.controller.abort();
      }),
    );
    expect(result).toEqual({ status: 0xfe00 });
    expect(call.sent).toHaveLength(2);
  });

  it('a C-CANCEL arriving while a long answer is sent is seen between two batches', async () => {
    const { scp } = setup({
      results: Array.from({ length: 200 }, (_, n) => study(n)),
      more: false,
    });
    const call = request(studyQuery);
    const result = await scp.handle(
      call.req,
      channel(async (r) => {
        call.sent.push(r);
        // The C-CANCEL-RQ comes in from the socket: only when the event loop gets a turn.
        if (call.sent.length === 1) setImmediate(() => call.controller.abort());
      }),
    );
    expect(result).toEqual({ status: 0xfe00 });
    expect(call.sent).toHaveLength(64);
  });

  it('more matches than the limit: refused with 0xA700 before any response, audited', async () => {
    const { scp, recordAlone } = setup({ results: [study(1)], more: true });
    const call = request(studyQuery);
    expect(await handle(scp, call)).toEqual({
      status: 0xa700,
      errorComment: 'more than 10000 matches: narrow the query',
    });
    expect(call.sent).toEqual([]);
    expect(recordAlone.mock.calls[0]![0]).toMatchObject({
      outcome: 'failure',
      detail: { results: null, reason: 'more than 10000 matches' },
    });
  });

  it('an identifier that does not fit the model: 0xA900 with the offending element', async () => {
    const { scp, catalog } = setup();
    const call = request({ '00080052': { vr: 'CS', Value: ['SERIES'] } });
    expect(await handle(scp, call)).toEqual({
      status: 0xa900,
      errorComment: 'SERIES level needs a single StudyInstanceUID',
      command: { offendingElement: [0x0020000d] },
    });
    expect(catalog.search).not.toHaveBeenCalled();
  });

  it('a value the catalog cannot match: 0xA900 naming the key, not the value', async () => {
    const { scp, recordAlone } = setup(
      new SearchError(
        'PatientBirthDate must be a date YYYYMMDD or a range of them',
        'PatientBirthDate',
      ),
    );
    const call = request({ ...studyQuery, '00100030': { vr: 'DA', Value: ['1960-01-01'] } });
    expect(await handle(scp, call)).toEqual({
      status: 0xa900,
      errorComment: 'PatientBirthDate must be a date YYYYMMDD or a range of them',
      command: { offendingElement: [0x00100030] },
    });
    expect(recordAlone).not.toHaveBeenCalled();
  });

  it('a database failure: 0xC000, or 0xA700 when the database is out of resources', async () => {
    const broken = setup(new Error('connection reset'));
    expect(await handle(broken.scp, request(studyQuery))).toEqual({
      status: 0xc000,
      errorComment: 'the query could not be run',
    });
    const busy = setup(Object.assign(new Error('too many clients'), { code: '53300' }));
    expect((await handle(busy.scp, request(studyQuery)))?.status).toBe(0xa700);
  });

  it('a query that cannot be audited is not answered', async () => {
    const { scp, recordAlone } = setup();
    recordAlone.mockRejectedValueOnce(new Error('disk full'));
    const call = request(studyQuery);
    expect(await handle(scp, call)).toEqual({
      status: 0xc000,
      errorComment: 'the query could not be audited',
    });
    expect(call.sent).toEqual([]);
  });

  it('no identifier, or one over 1 MiB, is refused', async () => {
    const { scp } = setup();
    expect((await handle(scp, request(null)))?.status).toBe(0xa900);
    expect(await handle(scp, request(Buffer.alloc(1024 * 1024 + 2)))).toEqual({
      status: 0xa700,
      errorComment: 'identifier larger than 1 MiB',
    });
  });
});
