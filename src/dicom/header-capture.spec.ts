import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomFormatError, type DicomFormatErrorReason } from './errors.js';
import { BULK_THRESHOLD_BYTES, HeaderCapture, type CapturedHeader } from './header-capture.js';
import { parseHeaderSync } from './parse-header.js';
import { Part10Splitter } from './part10.js';
import {
  encodeElement,
  makeInstance,
  writeInstanceFile,
  type FixtureElement,
  type FixtureEncoding,
  type FixtureTransferSyntax,
} from './testing/fixtures.js';
import { TransferSyntax } from './uids.js';

const EXPLICIT_LE: FixtureEncoding = { explicitVr: true, littleEndian: true, text: 'latin1' };
const IMPLICIT_LE: FixtureEncoding = { explicitVr: false, littleEndian: true, text: 'latin1' };

function capture(
  bytes: Buffer,
  transferSyntaxUid: string,
  chunkSize = 64 * 1024,
  maxHeaderBytes?: number,
): CapturedHeader {
  const c = new HeaderCapture(transferSyntaxUid, maxHeaderBytes ? { maxHeaderBytes } : {});
  for (let i = 0; i < bytes.length; i += chunkSize) c.push(bytes.subarray(i, i + chunkSize));
  return c.finish();
}

function captureError(
  bytes: Buffer,
  transferSyntaxUid: string,
  chunkSize?: number,
): DicomFormatError {
  try {
    capture(bytes, transferSyntaxUid, chunkSize);
  } catch (err) {
    if (!(err instanceof DicomFormatError)) throw err;
    return err;
  }
  throw new Error('expected a DicomFormatError');
}

function expectReason(bytes: Buffer, ts: string, reason: DicomFormatErrorReason): void {
  expect(captureError(bytes, ts).reason).toBe(reason);
}

const elements = (list: FixtureElement[], encoding = EXPLICIT_LE): Buffer =>
  Buffer.concat(list.map((e) => encodeElement(e, encoding)));

/** A realistic header: nested sequences of both length kinds, private and binary elements. */
const rich: FixtureElement[] = [
  {
    tag: '00081115',
    vr: 'SQ',
    items: [
      [
        { tag: '00081150', vr: 'UI', value: '1.2.3' },
        {
          tag: '00081199',
          vr: 'SQ',
          undefinedLength: false,
          items: [[{ tag: '00081155', vr: 'UI', value: '1.2.3.4' }], []],
        },
      ],
    ],
  },
  { tag: '00091010', vr: 'LO', value: 'PRIVATE CREATOR' },
  { tag: '00091001', vr: 'OB', value: Buffer.alloc(3000, 1) },
  { tag: '00180050', vr: 'DS', value: ['1.5'] },
];

/** The same, small enough to cut at every offset. */
const richSmall: FixtureElement[] = rich.map((e) =>
  e.vr === 'OB' ? { ...e, value: Buffer.alloc(30, 1) } : e,
);

const SYNTAXES: FixtureTransferSyntax[] = [
  'implicit',
  'explicit',
  'explicit-big-endian',
  'deflated',
  'jpeg-baseline',
];

describe('HeaderCapture', () => {
  describe.each(SYNTAXES)('%s', (syntax) => {
    const instance = makeInstance({ transferSyntax: syntax, extra: rich, pixelBytes: 200_000 });
    const plain = syntax === 'deflated' ? zlib.inflateRawSync(instance.dataset) : instance.dataset;

    it('stops exactly before Pixel Data', () => {
      const result = capture(instance.dataset, instance.transferSyntaxUid);
      expect(result.headerBytes.equals(plain.subarray(0, instance.pixelDataOffset!))).toBe(true);
      expect(result.bulk).toMatchObject({
        tag: '7FE00010',
        vr: syntax === 'jpeg-baseline' ? 'OB' : 'OW',
        offset: instance.pixelDataOffset,
        valueLength: syntax === 'jpeg-baseline' ? null : 200_000,
      });
      expect(result.totalBytes).toBe(instance.dataset.length);
    });

    it('gives the same result for 1-byte, 7-byte and 64 KiB chunks', () => {
      const reference = capture(instance.dataset, instance.transferSyntaxUid, 64 * 1024);
      for (const size of [1, 7]) {
        const result = capture(instance.dataset, instance.transferSyntaxUid, size);
        expect(result.headerBytes.equals(reference.headerBytes)).toBe(true);
        expect(result.bulk).toEqual(reference.bulk);
        expect(result.totalBytes).toBe(reference.totalBytes);
      }
    });

    it('is done as soon as the Pixel Data element header arrives', () => {
      if (syntax === 'deflated') return; // offsets are in the inflated stream
      const c = new HeaderCapture(instance.transferSyntaxUid);
      const headerEnd = instance.pixelDataOffset! + (syntax === 'implicit' ? 8 : 12);
      c.push(instance.dataset.subarray(0, headerEnd - 1));
      expect(c.done).toBe(false);
      c.push(instance.dataset.subarray(headerEnd - 1, headerEnd));
      expect(c.done).toBe(true);
    });
  });

  it('hands out the header before the stream ends, and still checks the end', () => {
    const instance = makeInstance({ pixelBytes: 10_000 });
    const c = new HeaderCapture(instance.transferSyntaxUid);
    expect(() => c.header()).toThrow(Error);
    c.push(instance.dataset.subarray(0, instance.pixelDataOffset! + 100));
    expect(c.done).toBe(true);
    const early = c.header();
    expect(early.headerBytes.equals(instance.dataset.subarray(0, instance.pixelDataOffset!))).toBe(
      true,
    );
    expect(early.bulk?.tag).toBe('7FE00010');
    c.push(instance.dataset.subarray(instance.pixelDataOffset! + 100, instance.dataset.length - 2));
    expect(() => c.finish()).toThrow(expect.objectContaining({ reason: 'truncated' }));
    // The early view was not disturbed.
    expect(early.headerBytes.equals(instance.dataset.subarray(0, instance.pixelDataOffset!))).toBe(
      true,
    );
  });

  it('captures a data set without pixel data to its end', () => {
    const instance = makeInstance({ noPixelData: true, extra: rich });
    const result = capture(instance.dataset, instance.transferSyntaxUid, 5);
    expect(result.bulk).toBeUndefined();
    expect(result.headerBytes.equals(instance.dataset)).toBe(true);
  });

  it('stops at a bulk element (an encapsulated PDF) and keeps counting', () => {
    for (const transferSyntax of ['explicit', 'implicit'] as const) {
      const pdf = Buffer.alloc(2 * 1024 * 1024, 0x25);
      const instance = makeInstance({
        transferSyntax,
        noPixelData: true,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.104.1',
        extra: [
          { tag: '00420011', vr: 'OB', value: pdf },
          { tag: '00420012', vr: 'LO', value: 'application/pdf' },
        ],
      });
      const result = capture(instance.dataset, instance.transferSyntaxUid);
      const offset = instance.dataset.indexOf(Buffer.from([0x42, 0x00, 0x11, 0x00]));
      expect(result.bulk).toEqual({
        tag: '00420011',
        vr: 'OB',
        offset,
        headerLength: transferSyntax === 'explicit' ? 12 : 8,
        valueLength: pdf.length,
      });
      expect(result.headerBytes.length).toBe(offset);
      expect(result.totalBytes).toBe(instance.dataset.length);
    }
  });

  it('reports an unknown implicit VR bulk element as UN', () => {
    const body = Buffer.concat([
      elements([{ tag: '00080018', vr: 'UI', value: '1.2' }], IMPLICIT_LE),
      elements(
        [{ tag: '56000020', vr: 'OF', value: Buffer.alloc(BULK_THRESHOLD_BYTES + 4) }],
        IMPLICIT_LE,
      ),
    ]);
    expect(capture(body, TransferSyntax.ImplicitVRLittleEndian).bulk).toMatchObject({
      tag: '56000020',
      vr: 'UN',
    });
  });

  it('does not treat a long sequence as bulk data', () => {
    const items = Array.from({ length: 3000 }, (_, i) => [
      { tag: '00081155', vr: 'UI', value: `1.2.3.${i}` },
      { tag: '00081160', vr: 'IS', value: String(i) },
      { tag: '00089007', vr: 'CS', value: 'X'.repeat(400) },
    ]);
    for (const [transferSyntax, encoding] of [
      ['explicit', EXPLICIT_LE],
      ['implicit', IMPLICIT_LE],
    ] as const) {
      const sequence: FixtureElement = { tag: '52009230', vr: 'SQ', undefinedLength: false, items };
      const instance = makeInstance({ transferSyntax, extra: [sequence] });
      expect(encodeElement(sequence, encoding).length).toBeGreaterThan(BULK_THRESHOLD_BYTES);
      const result = capture(instance.dataset, instance.transferSyntaxUid);
      expect(result.bulk?.tag).toBe('7FE00010');
      expect(result.headerBytes.length).toBe(instance.pixelDataOffset);
    }
  });

  it('keeps the Extended Offset Table (7FE0,0001) in the header', () => {
    const instance = makeInstance({
      transferSyntax: 'jpeg-baseline',
      extra: [{ tag: '7FE00001', vr: 'OV', value: Buffer.alloc(8) }],
    });
    const result = capture(instance.dataset, instance.transferSyntaxUid);
    expect(result.bulk?.tag).toBe('7FE00010');
  });

  it('throws header-too-large past maxHeaderBytes', () => {
    const instance = makeInstance({ extra: rich });
    const err = (() => {
      try {
        capture(instance.dataset, instance.transferSyntaxUid, 1, 2048);
      } catch (e) {
        return e as DicomFormatError;
      }
      return null;
    })();
    expect(err?.reason).toBe('header-too-large');
    // A header of exactly the limit is fine.
    const exact = capture(
      instance.dataset,
      instance.transferSyntaxUid,
      3,
      instance.pixelDataOffset!,
    );
    expect(exact.headerBytes.length).toBe(instance.pixelDataOffset);
  });

  it('stays failed after an error', () => {
    const c = new HeaderCapture(TransferSyntax.ExplicitVRLittleEndian);
    expect(() => c.push(Buffer.from('garbage!garbage!'))).toThrow(DicomFormatError);
    expect(() => c.push(Buffer.alloc(4))).toThrow(DicomFormatError);
    expect(() => c.finish()).toThrow(DicomFormatError);
  });

  describe('hostile input', () => {
    it('throws a DicomFormatError for a data set cut at any offset', () => {
      for (const syntax of SYNTAXES) {
        const instance = makeInstance({ transferSyntax: syntax, extra: richSmall, pixelBytes: 64 });
        const okCuts: number[] = [];
        for (let cut = 0; cut < instance.dataset.length; cut++) {
          try {
            capture(instance.dataset.subarray(0, cut), instance.transferSyntaxUid, 13);
            okCuts.push(cut);
          } catch (err) {
            expect(err).toBeInstanceOf(DicomFormatError);
            expect((err as DicomFormatError).reason).toBe('truncated');
          }
        }
        if (syntax === 'deflated') {
          // Only cuts in the deflate stream's trailer, after the last data set byte, pass.
          const full = zlib.inflateRawSync(instance.dataset).length;
          for (const cut of okCuts) {
            const partial = zlib.inflateRawSync(instance.dataset.subarray(0, cut), {
              finishFlush: zlib.constants.Z_SYNC_FLUSH,
            });
            expect(partial.length).toBe(full);
          }
          continue;
        }
        // A cut between two top-level elements leaves a shorter, well-formed data set, which no
        // parser can tell from a complete one: exactly those cuts pass. dcmjs counts them.
        const header = instance.dataset.subarray(0, instance.pixelDataOffset!);
        const topLevel = Object.keys(parseHeaderSync(header, instance.transferSyntaxUid).metadata);
        expect(okCuts.length).toBe(topLevel.length + 1);
        expect(okCuts.at(-1)).toBe(instance.pixelDataOffset);
        // Cut inside Pixel Data, native or encapsulated, is always caught.
      }
    });

    it('survives random garbage', () => {
      const random = seededRandom(42);
      for (let round = 0; round < 300; round++) {
        const bytes = Buffer.alloc(1 + Math.floor(random() * 4000));
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
        for (const ts of [
          TransferSyntax.ImplicitVRLittleEndian,
          TransferSyntax.ExplicitVRLittleEndian,
          TransferSyntax.ExplicitVRBigEndian,
          TransferSyntax.DeflatedExplicitVRLittleEndian,
        ]) {
          try {
            capture(bytes, ts, 1 + (round % 97));
          } catch (err) {
            expect(err).toBeInstanceOf(DicomFormatError);
          }
        }
      }
    });

    it('reports nesting deeper than 64 levels as malformed, without recursion', () => {
      for (const [ts, encoding] of [
        [TransferSyntax.ExplicitVRLittleEndian, EXPLICIT_LE],
        [TransferSyntax.ImplicitVRLittleEndian, IMPLICIT_LE],
      ] as const) {
        const deep = nestedSequences(10_000, encoding, true);
        expect(captureError(deep, ts).reason).toBe('malformed');
        expect(captureError(deep, ts, 1).reason).toBe('malformed');
        // 64 levels are fine.
        const ok = capture(nestedSequences(64, encoding, true), ts);
        expect(ok.bulk).toBeUndefined();
        expect(captureError(nestedSequences(65, encoding, true), ts).reason).toBe('malformed');
      }
      // Defined-length sequences are walked into too (explicit VR says they are sequences).
      const definedDeep = nestedSequences(10_000, EXPLICIT_LE, false);
      expect(captureError(definedDeep, TransferSyntax.ExplicitVRLittleEndian).reason).toBe(
        'malformed',
      );
    });

    it('rejects structural errors as malformed', () => {
      const ts = TransferSyntax.ExplicitVRLittleEndian;
      const delimiter = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
      expectReason(delimiter, ts, 'malformed'); // a sequence delimiter at top level
      const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]);
      expectReason(item, ts, 'malformed'); // an item at top level
      const odd = elements([{ tag: '00100010', vr: 'PN', value: Buffer.from('ABC') }]);
      odd.writeUInt16LE(3, 6); // an odd length
      expectReason(Buffer.concat([odd.subarray(0, 11)]), ts, 'malformed');
      const badVr = elements([{ tag: '00100010', vr: 'PN', value: 'AB' }]);
      badVr.write('ZZ', 4, 'latin1');
      expectReason(badVr, ts, 'malformed');
      // An undefined length on a VR that cannot have one.
      const undefinedLo = Buffer.from([0x10, 0, 0x10, 0, 0x55, 0x54, 0, 0, 0xff, 0xff, 0xff, 0xff]);
      expectReason(undefinedLo, ts, 'malformed');
      // An item whose element overruns the item's defined length.
      const sq = encodeElement(
        {
          tag: '00081115',
          vr: 'SQ',
          undefinedLength: false,
          items: [[{ tag: '00081150', vr: 'UI', value: '1.2.3.4' }]],
        },
        EXPLICIT_LE,
      );
      sq.writeUInt32LE(sq.readUInt32LE(16) - 2, 16); // shrink the item length
      expectReason(sq, ts, 'malformed');
      // A sequence delimiter where the item delimiter belongs.
      const wrongDelimiter = encodeElement({ tag: '00081115', vr: 'SQ', items: [[]] }, EXPLICIT_LE);
      wrongDelimiter.writeUInt16LE(0xe0dd, 22); // item delimiter turned sequence delimiter
      expectReason(wrongDelimiter, ts, 'malformed');
    });

    it('reports huge lengths as truncated or too large', () => {
      const ts = TransferSyntax.ExplicitVRLittleEndian;
      const head = elements([{ tag: '00080018', vr: 'UI', value: '1.2' }]);
      const bulk = Buffer.from([0x09, 0, 0x01, 0x10, 0x4f, 0x42, 0, 0, 0xf0, 0xff, 0xff, 0xff]);
      // At top level: a bulk element whose value never comes.
      expectReason(Buffer.concat([head, bulk, Buffer.alloc(64)]), ts, 'truncated');
      // Inside an undefined-length item: the header would be 4 GiB.
      const sequence = encodeElement({ tag: '00081115', vr: 'SQ', items: [[]] }, EXPLICIT_LE);
      const nested = Buffer.concat([sequence.subarray(0, 20), bulk, Buffer.alloc(64)]);
      expectReason(nested, ts, 'header-too-large');
      // In implicit VR.
      const implicit = Buffer.from([0x09, 0, 0x01, 0x10, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
      expectReason(implicit, TransferSyntax.ImplicitVRLittleEndian, 'truncated');
    });

    it('rejects an invalid deflate stream', () => {
      expectReason(
        Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
        TransferSyntax.DeflatedExplicitVRLittleEndian,
        'malformed',
      );
    });
  });

  describe('a 150 MiB multi-frame instance', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'strata-dicom-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it(
      'streams through Part10Splitter and HeaderCapture in small memory',
      { timeout: 60_000 },
      async () => {
        const path = join(dir, 'big.dcm');
        const written = await writeInstanceFile(path, { rows: 512, columns: 512, frames: 300 });
        expect(written.size).toBeGreaterThan(150 * 1024 * 1024);

        const before = process.memoryUsage();
        let peak = 0;
        const splitter = new Part10Splitter();
        let c: HeaderCapture | null = null;
        splitter.on('meta', (meta: { transferSyntaxUid: string }) => {
          c = new HeaderCapture(meta.transferSyntaxUid);
        });
        for await (const chunk of createReadStream(path).pipe(splitter)) {
          c!.push(chunk as Buffer);
          const now = process.memoryUsage();
          peak = Math.max(
            peak,
            now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers,
          );
        }
        const result = (c as HeaderCapture | null)!.finish();
        expect(result.bulk).toMatchObject({ tag: '7FE00010', valueLength: 512 * 512 * 300 * 2 });
        expect(result.totalBytes).toBe(written.size - written.metaLength);
        // The capture holds only the header, in a buffer far smaller than the instance.
        expect(result.headerBytes.length).toBe(written.pixelDataOffset);
        expect(result.headerBytes.buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
        // Streamed chunks are garbage, not retained: the peak stays far below 150 MiB.
        expect(peak).toBeLessThan(80 * 1024 * 1024);
      },
    );

    it('detects the same file cut short inside its pixel data', async () => {
      const path = join(dir, 'cut.dcm');
      const { pixelDataOffset, metaLength } = await writeInstanceFile(path, {
        frames: 4,
        rows: 256,
        columns: 256,
      });
      const c = new HeaderCapture(TransferSyntax.ExplicitVRLittleEndian);
      const end = metaLength + pixelDataOffset! + 12 + 1000;
      for await (const chunk of createReadStream(path, { start: metaLength, end: end - 1 })) {
        c.push(chunk as Buffer);
      }
      expect(c.done).toBe(true);
      expect(() => c.finish()).toThrow(expect.objectContaining({ reason: 'truncated' }));
    });
  });
});

/** `depth` nested sequences, each in an item, in the given encoding. */
function nestedSequences(
  depth: number,
  encoding: FixtureEncoding,
  undefinedLength: boolean,
): Buffer {
  if (undefinedLength) {
    const open = encoding.explicitVr
      ? Buffer.from([0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff])
      : Buffer.from([0x08, 0x00, 0x15, 0x11, 0xff, 0xff, 0xff, 0xff]);
    const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
    const close = Buffer.from([
      0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0,
    ]);
    const parts: Buffer[] = [];
    for (let i = 0; i < depth; i++) parts.push(open, item);
    for (let i = 0; i < depth; i++) parts.push(close);
    return Buffer.concat(parts);
  }
  // Defined lengths, built from the inside out.
  let inner = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) {
    const item = Buffer.alloc(8);
    item.writeUInt16LE(0xfffe, 0);
    item.writeUInt16LE(0xe000, 2);
    item.writeUInt32LE(inner.length, 4);
    const header = Buffer.from([0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0, 0, 0, 0]);
    header.writeUInt32LE(inner.length + 8, 8);
    inner = Buffer.concat([header, item, inner]);
  }
  return inner;
}

/** A small deterministic PRNG (mulberry32), so that failures reproduce. */
function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
