// The requests we send, against dcmtk: DimseClient storing to storescp (as for C-MOVE
// sub-operations), and C-GET sub-operations sent back to getscu on its own association.
// Without dcmtk these tests are skipped, unless STRATA_REQUIRE_INTEROP=1 (CI), where that fails.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// eslint-disable-next-line no-restricted-imports -- test fixtures only: the runtime stays dicom-free
import { type GeneratedInstance, makeInstance } from '../dicom/testing/index.js';
import { CommandField } from './command.js';
import { DimseClient } from './dimse-client.js';
import { AssociationRejectedError } from './errors.js';
import { IMPLICIT_VR_LITTLE_ENDIAN } from './pdu.js';
import { DimseServiceRegistry } from './service-registry.js';
import { DimseStatus } from './status.js';
import {
  drain,
  freePort,
  type Harness,
  type RunningTool,
  runTool,
  startHarness,
  startListeningTool,
  toolAvailable,
} from './testing/harness.js';
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, part10Dataset } from './testing/part10.js';
import { type DimseResult } from './types.js';

const TOOLS = ['storescp', 'getscu'];
const hasDcmtk = TOOLS.every(toolAvailable);
const requireInterop = process.env.STRATA_REQUIRE_INTEROP === '1';
const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';

describe('dcmtk availability (storescp, getscu)', () => {
  it('has them on PATH (required when STRATA_REQUIRE_INTEROP=1)', (ctx) => {
    if (hasDcmtk) return;
    if (requireInterop) expect.fail(`${TOOLS.join('/')} not on PATH but STRATA_REQUIRE_INTEROP=1`);
    ctx.skip('dcmtk not installed: DimseClient / C-GET interop tests skipped');
  });
});

/** Each test writes its received files into a directory of its own under this one. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-dimse-client-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The instances a test sends, and a check that a directory of Part 10 files holds exactly them. */
function instances(count: number, studyInstanceUid?: string): GeneratedInstance[] {
  return Array.from({ length: count }, (_, i) =>
    makeInstance({ studyInstanceUid, pixelBytes: 20_000 + i * 70_001, instanceNumber: i + 1 }),
  );
}

async function expectFilesHold(dir: string, sent: readonly GeneratedInstance[]): Promise<void> {
  const files = await readdir(dir);
  expect(files).toHaveLength(sent.length);
  const received = await Promise.all(files.map((f) => readFile(join(dir, f))));
  for (const instance of sent) {
    const matches = received.filter((file) => part10Dataset(file).equals(instance.dataset));
    expect(matches, instance.sopInstanceUid).toHaveLength(1);
  }
}

describe.skipIf(!hasDcmtk)('DimseClient with dcmtk storescp', () => {
  let scp: RunningTool | undefined;

  afterEach(async () => {
    await scp?.stop();
    scp = undefined;
  });

  /** storescp on a free port, writing what it receives unchanged (+B) into a new directory. */
  async function startStorescp(extra: string[] = []): Promise<{ port: number; out: string }> {
    const port = await freePort();
    const out = await mkdtemp(join(dir, 'out-'));
    scp = await startListeningTool(
      'storescp',
      ['-aet', 'STORESCP', '+B', '-od', out, ...extra, String(port)],
      port,
    );
    return { port, out };
  }

  const connect = (port: number) =>
    DimseClient.connect({
      host: '127.0.0.1',
      port,
      callingAet: 'STRATA',
      calledAet: 'STORESCP',
      contexts: [
        {
          abstractSyntax: CT_IMAGE_STORAGE,
          transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
        },
      ],
    });

  it('stores three data sets that storescp writes unchanged, then releases', async () => {
    const { port, out } = await startStorescp();
    const client = await connect(port);
    expect(client.acceptedTransferSyntaxes(CT_IMAGE_STORAGE)).toEqual([EXPLICIT_VR_LITTLE_ENDIAN]);
    const sent = instances(3);
    for (const instance of sent) {
      const result = await client.store({
        sopClassUid: instance.sopClassUid,
        sopInstanceUid: instance.sopInstanceUid,
        transferSyntaxUid: instance.transferSyntaxUid,
        data: Readable.from([instance.dataset]),
        moveOriginator: { aet: 'ORIGIN', messageId: 5 },
      });
      expect(result, scp!.output()).toEqual({ status: DimseStatus.Success });
    }
    await client.release();
    expect(await client.closed).toBe('released');
    await expectFilesHold(out, sent);
  });

  it('rejects with AssociationRejectedError when storescp refuses the association', async () => {
    // storescp 3.6.7 cannot check the called AE title; --refuse rejects every association
    // (permanent, service user, no reason given).
    const { port } = await startStorescp(['--refuse']);
    const err: unknown = await connect(port).catch((e) => e);
    expect(err).toBeInstanceOf(AssociationRejectedError);
    expect(err).toMatchObject({ result: 1, source: 1, reason: 1 });
  });
});

describe.skipIf(!hasDcmtk)('C-GET sub-operations to dcmtk getscu', () => {
  let h: Harness | undefined;

  afterEach(async () => {
    await h?.server.close(1000);
    h = undefined;
  });

  it('sends the study back on the getscu association, files arriving unchanged', async () => {
    const studyUid = '1.2.826.0.1.3680043.10.1461.96.1';
    const sent = instances(2, studyUid);
    const subResults: DimseResult[] = [];
    let identifier = '';
    const registry = new DimseServiceRegistry();
    registry.register({
      name: 'test-get',
      sopClasses: [STUDY_ROOT_GET],
      handle: async (req, reply) => {
        if (req.command.commandField !== CommandField.CGetRq) return undefined;
        identifier = (await drain(req.data!, true)).bytes!.toString('latin1');
        const counts = { completed: 0, failed: 0 };
        for (const [i, instance] of sent.entries()) {
          const syntaxes = reply.storageTransferSyntaxes(instance.sopClassUid);
          if (!syntaxes.includes(instance.transferSyntaxUid)) {
            counts.failed++;
            continue;
          }
          const result = await reply.store({
            sopClassUid: instance.sopClassUid,
            sopInstanceUid: instance.sopInstanceUid,
            transferSyntaxUid: instance.transferSyntaxUid,
            data: Readable.from([instance.dataset]),
          });
          subResults.push(result);
          if (result.status === DimseStatus.Success) counts.completed++;
          else counts.failed++;
          await reply.sendPending({
            status: DimseStatus.Pending,
            command: {
              numberOfRemainingSuboperations: sent.length - i - 1,
              numberOfCompletedSuboperations: counts.completed,
              numberOfFailedSuboperations: counts.failed,
              numberOfWarningSuboperations: 0,
            },
          });
        }
        return {
          status: counts.failed === 0 ? DimseStatus.Success : 0xb000,
          command: {
            numberOfCompletedSuboperations: counts.completed,
            numberOfFailedSuboperations: counts.failed,
            numberOfWarningSuboperations: 0,
          },
        };
      },
    });
    h = await startHarness({
      handlers: {
        acceptsAbstractSyntax: (uid) =>
          uid.startsWith('1.2.840.10008.5.1.4.1.1.') || registry.accepts(uid),
        onOtherCommand: (req, reply) => registry.dispatch(req, reply),
      },
    });
    const out = await mkdtemp(join(dir, 'out-'));
    const { code, output } = await runTool('getscu', [
      '-v',
      '-S',
      '+B',
      '-aet',
      'GETSCU',
      '-aec',
      'STRATA',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${studyUid}`,
      '-od',
      out,
      '127.0.0.1',
      String(h.port),
    ]);
    expect(code, output).toBe(0);
    expect(identifier).toContain(studyUid);
    expect(subResults).toEqual([{ status: 0 }, { status: 0 }]);
    expect(output).toMatch(/Received C-GET Response \(Success\)/);
    expect(output).toMatch(/Number of Completed Suboperations\s*:\s*2/);
    await expectFilesHold(out, sent);
  });
});
