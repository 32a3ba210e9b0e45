import { type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CommandField, DATA_SET_PRESENT, decodeCommand, type DimseCommand } from './command.js';
import { AssociationClosedError } from './errors.js';
import { maxPdvPayload, MessageWriter } from './message-writer.js';
import { parsePDataTf, type Pdv } from './pdu.js';

/** A stand-in for the socket: collects what is written (it never needs to drain). */
function sink(): { socket: Socket; pdvs(): Pdv[] } {
  const chunks: Buffer[] = [];
  const writable = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return {
    socket: writable as unknown as Socket,
    pdvs: () => {
      const all = Buffer.concat(chunks);
      const out: Pdv[] = [];
      for (let off = 0; off < all.length;) {
        const length = all.readUInt32BE(off + 2);
        out.push(...parsePDataTf(all.subarray(off + 6, off + 6 + length)));
        off += 6 + length;
      }
      return out;
    },
  };
}

const STORE: DimseCommand = {
  commandField: CommandField.CStoreRq,
  messageId: 1,
  affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  affectedSopInstanceUid: '1.2.3',
  commandDataSetType: DATA_SET_PRESENT,
};

/** Source chunks of odd sizes, so fragments have to be cut across them. */
function source(total: number): { data: Readable; bytes: Buffer } {
  const bytes = Buffer.from(Array.from({ length: total }, (_, i) => (i * 7) & 0xff));
  const pieces: Buffer[] = [];
  for (let off = 0; off < total; off += 37) pieces.push(bytes.subarray(off, off + 37));
  return { data: Readable.from(pieces), bytes };
}

describe('MessageWriter.stream', () => {
  it.each([0, 1, 99, 100, 101, 250, 300])(
    'cuts a %i-byte data set into full fragments, only the last one flagged last',
    async (total) => {
      const s = sink();
      const writer = new MessageWriter(s.socket, 100, () => expect.fail('not broken'));
      const { data, bytes } = source(total);
      await writer.stream(3, STORE, data);
      const pdvs = s.pdvs();
      expect(pdvs[0]).toMatchObject({ presentationContextId: 3, isCommand: true, isLast: true });
      expect(decodeCommand(pdvs[0]!.data)).toEqual(STORE);
      const fragments = pdvs.slice(1);
      expect(fragments.every((p) => !p.isCommand && p.presentationContextId === 3)).toBe(true);
      expect(fragments.map((p) => p.isLast)).toEqual(
        fragments.map((_, i, a) => i === a.length - 1),
      );
      // Every fragment but the last is full; the last one is never empty unless all is.
      expect(fragments.map((p) => p.data.length)).toEqual(
        total === 0
          ? [0]
          : Array.from({ length: Math.ceil(total / 100) }, (_, i) =>
              Math.min(100, total - i * 100),
            ),
      );
      expect(Buffer.concat(fragments.map((p) => p.data)).equals(bytes)).toBe(true);
    },
  );

  it('writes nothing when the source fails before its first fragment', async () => {
    const s = sink();
    let broken = false;
    const writer = new MessageWriter(s.socket, 100, () => (broken = true));
    const data = Readable.from(
      (async function* () {
        yield Buffer.alloc(50);
        throw new Error('gone');
      })(),
    );
    await expect(writer.stream(1, STORE, data)).rejects.toThrow('gone');
    expect(s.pdvs()).toEqual([]);
    expect(broken).toBe(false);
  });

  it('reports a message broken off half way', async () => {
    const s = sink();
    let broken: unknown;
    const writer = new MessageWriter(s.socket, 100, (err) => (broken = err));
    const data = Readable.from(
      (async function* () {
        yield Buffer.alloc(250);
        throw new Error('gone');
      })(),
    );
    await expect(writer.stream(1, STORE, data)).rejects.toThrow('gone');
    expect(s.pdvs().length).toBe(3); // command, two full fragments
    expect(broken).toBeInstanceOf(Error);
  });

  it('holds other messages back until a streamed one is complete', async () => {
    const s = sink();
    const writer = new MessageWriter(s.socket, 100, () => undefined);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const data = Readable.from(
      (async function* () {
        yield Buffer.alloc(150, 1);
        await gate;
        yield Buffer.alloc(10, 2);
      })(),
    );
    const streaming = writer.stream(1, STORE, data);
    await new Promise((r) => setTimeout(r, 10));
    const pending = writer.write(5, { ...STORE, commandField: CommandField.CFindRsp });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.pdvs().some((p) => p.presentationContextId === 5)).toBe(false);
    release();
    await Promise.all([streaming, pending]);
    expect(s.pdvs().map((p) => [p.presentationContextId, p.isCommand, p.isLast])).toEqual([
      [1, true, true],
      [1, false, false],
      [1, false, true],
      [5, true, true],
    ]);
  });

  it('stops with AssociationClosedError once closed, destroying the source', async () => {
    const s = sink();
    const writer = new MessageWriter(s.socket, 100, () => undefined);
    writer.close();
    const { data } = source(10);
    await expect(writer.stream(1, STORE, data)).rejects.toBeInstanceOf(AssociationClosedError);
    expect(data.destroyed).toBe(true);
  });
});

describe('maxPdvPayload', () => {
  it('fits the peer limit and ours, 0 meaning no limit', () => {
    expect(maxPdvPayload(16384, 1 << 20)).toBe(16378);
    expect(maxPdvPayload(0, 1 << 20)).toBe((1 << 20) - 6);
    expect(maxPdvPayload(1 << 24, 65536)).toBe(65530);
  });
});
