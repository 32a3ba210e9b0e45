// Test helper: starts a DimseServer on 127.0.0.1:0 with recording handlers, plus small utilities
// shared by the server specs (running dcmtk tools, waiting for conditions, raw C-ECHO).

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type AddressInfo, connect, createServer } from 'node:net';
import { type Readable } from 'node:stream';
import { CommandField, decodeCommand, NO_DATA_SET } from '../command.js';
import { DimseServer } from '../dimse-server.js';
import {
  IMPLICIT_VR_LITTLE_ENDIAN,
  PduType,
  VERIFICATION_SOP_CLASS,
  encodeReleaseRq,
  parseAssociateAc,
  parsePDataTf,
} from '../pdu.js';
import {
  type AssociationCloseReason,
  type AssociationInfo,
  type AssociationStats,
  type DimseHandlers,
  type DimseServerOptions,
  type StoreRequest,
} from '../types.js';
import { associateRqPdu, commandPdu, RawClient } from './raw-client.js';

export interface ReceivedStore {
  req: StoreRequest;
  length: number;
  sha256: string;
  /** The bytes themselves, when the harness was asked to keep them (small instances only). */
  bytes: Buffer | null;
}

export interface Harness {
  server: DimseServer;
  port: number;
  stores: ReceivedStore[];
  closed: { info: AssociationInfo; how: AssociationCloseReason; stats: AssociationStats }[];
  logs: string[];
}

/** Consumes a data set stream, hashing it (and keeping it if asked). */
export async function drain(
  data: Readable,
  keep: boolean,
): Promise<{ length: number; sha256: string; bytes: Buffer | null }> {
  const hash = createHash('sha256');
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    hash.update(chunk);
    length += chunk.length;
    if (keep) parts.push(Buffer.from(chunk));
  }
  return { length, sha256: hash.digest('hex'), bytes: keep ? Buffer.concat(parts) : null };
}

export async function startHarness(
  setup: {
    handlers?: Partial<DimseHandlers>;
    options?: Partial<DimseServerOptions>;
    keepBytes?: boolean;
  } = {},
): Promise<Harness> {
  const stores: ReceivedStore[] = [];
  const closed: Harness['closed'] = [];
  const logs: string[] = [];
  const handlers: DimseHandlers = {
    decideAssociation: (info) =>
      info.calledAet === 'STRATA'
        ? { accept: true }
        : {
            accept: false,
            result: 1,
            source: 1,
            reason: 7,
            logReason: 'called AE title not recognized',
          },
    acceptsAbstractSyntax: (uid) => uid.startsWith('1.2.840.10008.5.1.4.1.1.'),
    onStore: async (req, data) => {
      const got = await drain(data, setup.keepBytes ?? true);
      stores.push({ req, ...got });
      return { status: 0 };
    },
    onAssociationClosed: (info, how, stats) => closed.push({ info, how, stats }),
    ...setup.handlers,
  };
  const server = new DimseServer({
    host: '127.0.0.1',
    port: 0,
    aeTitle: 'STRATA',
    handlers,
    logger: {
      log: (m) => logs.push(m),
      warn: (m) => logs.push(m),
      error: (m) => logs.push(m),
      debug: (m) => logs.push(m),
    },
    ...setup.options,
  });
  const port = await server.listen();
  return { server, port, stores, closed, logs };
}

export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function toolAvailable(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function runTool(
  tool: string,
  args: string[],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env: { ...process.env, TCP_NODELAY: '1' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** A TCP port that was free a moment ago (for tools that cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A long-running tool (storescp...): its output so far, and a way to stop it. */
export interface RunningTool {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts a listening tool and resolves once 127.0.0.1:port accepts connections. */
export async function startListeningTool(
  tool: string,
  args: string[],
  port: number,
): Promise<RunningTool> {
  const child = spawn(tool, args, { env: { ...process.env, TCP_NODELAY: '1' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running: RunningTool = {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await running.stop();
      throw new Error(`${tool} did not start listening on ${port}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return running;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A full raw association doing one C-ECHO and a release: proves the server still serves
 * after hostile input, without needing dcmtk.
 */
export async function rawEcho(port: number): Promise<number> {
  const client = await RawClient.connect(port);
  try {
    client.write(
      associateRqPdu({
        contexts: [
          {
            id: 1,
            abstractSyntax: VERIFICATION_SOP_CLASS,
            transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN],
          },
        ],
      }),
    );
    const ac = await client.nextPdu();
    if (ac?.type !== PduType.AssociateAc)
      throw new Error(`expected A-ASSOCIATE-AC, got ${ac?.type}`);
    if (parseAssociateAc(ac.body).presentationContexts[0]?.result !== 0)
      throw new Error('context rejected');
    client.write(
      commandPdu(1, {
        commandField: CommandField.CEchoRq,
        messageId: 1,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
        commandDataSetType: NO_DATA_SET,
      }),
    );
    const rsp = await client.nextPdu();
    if (rsp?.type !== PduType.PDataTf) throw new Error('expected P-DATA-TF');
    const status = decodeCommand(parsePDataTf(rsp.body)[0]!.data).status ?? -1;
    client.write(encodeReleaseRq());
    const rp = await client.nextPdu();
    if (rp?.type !== PduType.ReleaseRp) throw new Error('expected A-RELEASE-RP');
    return status;
  } finally {
    client.destroy();
  }
}
