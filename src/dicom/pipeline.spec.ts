import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DicomFormatError, type DicomFormatErrorReason } from './errors.js';
import { HeaderCapture } from './header-capture.js';
import { parseHeaderSync, type ParsedHeader } from './parse-header.js';
import { Part10Splitter, type Part10Meta } from './part10.js';
import { makeInstance, type FixtureTransferSyntax } from './testing/index.js';

/** The ingestion path in miniature: Part 10 bytes → splitter → capture → parse. */
async function ingest(bytes: Buffer, chunkSize: number): Promise<ParsedHeader> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const splitter = new Part10Splitter();
  let capture: HeaderCapture | null = null;
  let transferSyntaxUid = '';
  splitter.on('meta', (meta: Part10Meta) => {
    transferSyntaxUid = meta.transferSyntaxUid;
    capture = new HeaderCapture(meta.transferSyntaxUid);
  });
  for await (const chunk of Readable.from(chunks).pipe(splitter)) {
    (capture as HeaderCapture | null)!.push(chunk as Buffer);
  }
  await splitter.meta;
  const { headerBytes, bulk } = (capture as HeaderCapture | null)!.finish();
  return parseHeaderSync(headerBytes, transferSyntaxUid, bulk);
}

async function outcome(bytes: Buffer, chunkSize: number): Promise<'ok' | DicomFormatErrorReason> {
  try {
    await ingest(bytes, chunkSize);
    return 'ok';
  } catch (err) {
    // Anything but a DicomFormatError is a bug.
    expect(err).toBeInstanceOf(DicomFormatError);
    return (err as DicomFormatError).reason;
  }
}

describe('Part 10 file → splitter → capture → parse', () => {
  it.each<FixtureTransferSyntax>(['explicit', 'implicit', 'jpeg-baseline', 'deflated'])(
    '%s: a file cut at any offset fails with a DicomFormatError (or parses, between elements)',
    { timeout: 60_000 },
    async (transferSyntax) => {
      const instance = makeInstance({
        transferSyntax,
        pixelBytes: 32,
        extra: [
          { tag: '00081115', vr: 'SQ', items: [[{ tag: '00081150', vr: 'UI', value: '1.2' }]] },
        ],
      });
      expect(await outcome(instance.part10, 1000)).toBe('ok');
      const seen = new Set<string>();
      for (let cut = 0; cut < instance.part10.length; cut++) {
        const result = await outcome(instance.part10.subarray(0, cut), 1 + (cut % 61));
        seen.add(result);
        if (cut < 132) expect(result).toBe('not-part10');
        else if (cut < instance.metaLength) expect(result).toBe('truncated');
        else if (
          cut > instance.metaLength + instance.pixelDataOffset! &&
          transferSyntax !== 'deflated'
        ) {
          expect(result).toBe('truncated');
        } else if (result === 'ok') {
          // Only a cut between top-level elements after the last UID can look complete.
          expect(cut).toBeGreaterThan(instance.metaLength);
        }
      }
      expect(seen).toContain('truncated');
    },
  );

  it('garbage, with and without a Part 10 prefix, fails with a DicomFormatError', async () => {
    let a = 1;
    const random = (): number => {
      a = (a * 48271) % 0x7fffffff;
      return a / 0x7fffffff;
    };
    const valid = makeInstance();
    for (let round = 0; round < 200; round++) {
      const garbage = Buffer.alloc(Math.floor(random() * 3000));
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
      expect(await outcome(garbage, 512)).not.toBe('ok');
      const prefixed = Buffer.concat([valid.part10.subarray(0, valid.metaLength), garbage]);
      expect(await outcome(prefixed, 1 + round)).not.toBe('ok');
    }
  });
});
