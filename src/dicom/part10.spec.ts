import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DicomFormatError } from './errors.js';
import {
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  Part10Splitter,
  writePart10Meta,
  type Part10Meta,
} from './part10.js';
import { makeInstance } from './testing/fixtures.js';
import { TransferSyntax } from './uids.js';

/** Runs bytes through a splitter in chunks of `chunkSize`; collects meta and output. */
async function split(
  bytes: Buffer,
  chunkSize = 64 * 1024,
): Promise<{ meta: Part10Meta; output: Buffer; metaBeforeData: boolean }> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const splitter = new Part10Splitter();
  let metaSeen = false;
  let metaBeforeData = true;
  splitter.on('meta', () => (metaSeen = true));
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of Readable.from(chunks).pipe(splitter)) {
      if (!metaSeen) metaBeforeData = false;
      out.push(chunk as Buffer);
    }
  })();
  const [meta] = await Promise.all([splitter.meta, done]);
  return { meta, output: Buffer.concat(out), metaBeforeData };
}

async function splitError(bytes: Buffer, chunkSize?: number): Promise<DicomFormatError> {
  try {
    await split(bytes, chunkSize);
  } catch (err) {
    expect(err).toBeInstanceOf(DicomFormatError);
    return err as DicomFormatError;
  }
  throw new Error('expected the splitter to fail');
}

/** A group 0002 element in explicit VR little endian. */
function metaElement(element: number, vr: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const long = vr === 'OB';
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(2, 0);
  h.writeUInt16LE(element, 2);
  h.write(vr, 4, 'latin1');
  if (long) h.writeUInt32LE(v.length, 8);
  else h.writeUInt16LE(v.length, 6);
  return Buffer.concat([h, v]);
}

function prefix(): Buffer {
  const p = Buffer.alloc(132);
  p.write('DICM', 128, 'latin1');
  return p;
}

describe('writePart10Meta', () => {
  it('writes preamble, DICM and an explicit VR little endian group 0002', () => {
    const meta = writePart10Meta({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUid: '1.2.3.4.5',
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      sourceAet: 'MODALITY1',
    });
    expect(meta.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(meta.toString('latin1', 128, 132)).toBe('DICM');
    // (0002,0000) UL 4 = length of the rest of the group.
    expect(meta.readUInt16LE(132)).toBe(2);
    expect(meta.readUInt16LE(134)).toBe(0);
    expect(meta.toString('latin1', 136, 138)).toBe('UL');
    expect(meta.readUInt32LE(140)).toBe(meta.length - 144);
    const text = meta.toString('latin1');
    expect(text).toContain('1.2.3.4.5\0'); // odd UID padded with NUL
    expect(text).toContain(IMPLEMENTATION_CLASS_UID);
    expect(text).toContain(IMPLEMENTATION_VERSION_NAME);
    expect(text).toContain('MODALITY1 ');
    expect(meta.length % 2).toBe(0);
  });

  it('round-trips through the splitter', async () => {
    const meta = writePart10Meta({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
      sopInstanceUid: '2.25.42',
      transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
      sourceAet: 'SRC',
    });
    const { meta: parsed, output } = await split(Buffer.concat([meta, Buffer.from('ABCD')]));
    expect(parsed).toEqual({
      transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
      mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.7',
      mediaStorageSopInstanceUid: '2.25.42',
      sourceAet: 'SRC',
      metaLength: meta.length,
    });
    expect(output.toString()).toBe('ABCD');
  });

  it('rejects invalid UIDs and AE titles', () => {
    const base = {
      sopClassUid: '1.2',
      sopInstanceUid: '1.2',
      transferSyntaxUid: '1.2.840.10008.1.2',
    };
    expect(() => writePart10Meta({ ...base, sopInstanceUid: '1.02' })).toThrow(DicomFormatError);
    expect(() => writePart10Meta({ ...base, sourceAet: 'A'.repeat(17) })).toThrow(RangeError);
    expect(() => writePart10Meta({ ...base, sourceAet: 'A\\B' })).toThrow(RangeError);
  });
});

describe('Part10Splitter', () => {
  const instance = makeInstance({ transferSyntax: 'explicit', pixelBytes: 4096 });

  it('passes through exactly the data set, whatever the chunking', async () => {
    for (const size of [1, 7, 131, 132, 133, 64 * 1024]) {
      const { meta, output, metaBeforeData } = await split(instance.part10, size);
      expect(output.equals(instance.dataset)).toBe(true);
      expect(metaBeforeData).toBe(true);
      expect(meta).toMatchObject({
        transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
        mediaStorageSopInstanceUid: instance.sopInstanceUid,
        mediaStorageSopClassUid: instance.sopClassUid,
        metaLength: instance.metaLength,
      });
    }
  });

  it('does not copy the chunks after the meta', async () => {
    const second = Buffer.from('second chunk');
    const splitter = new Part10Splitter();
    const seen: Buffer[] = [];
    splitter.on('data', (c: Buffer) => seen.push(c));
    splitter.write(instance.part10.subarray(0, instance.metaLength + 10));
    splitter.write(second);
    splitter.end();
    await splitter.meta;
    await new Promise((r) => splitter.on('end', r));
    expect(seen[0]!.buffer).toBe(instance.part10.buffer); // a view, not a copy
    expect(seen[1]).toBe(second);
  });

  it('accepts a meta group without FileMetaInformationGroupLength', async () => {
    const meta = Buffer.concat([
      prefix(),
      metaElement(0x0001, 'OB', Buffer.from([0, 1])),
      metaElement(0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.2\0'),
      metaElement(0x0003, 'UI', '1.2.3.4'),
      metaElement(0x0010, 'UI', '1.2.840.10008.1.2\0'),
    ]);
    const dataset = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x41, 0x42]);
    for (const size of [1, 5, 1024]) {
      const { meta: parsed, output } = await split(Buffer.concat([meta, dataset]), size);
      expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2');
      expect(parsed.mediaStorageSopInstanceUid).toBe('1.2.3.4');
      expect(parsed.metaLength).toBe(meta.length);
      expect(output.equals(dataset)).toBe(true);
    }
  });

  it('accepts a file that is only a meta group (empty data set)', async () => {
    const meta = writePart10Meta({
      sopClassUid: '1.2',
      sopInstanceUid: '1.3',
      transferSyntaxUid: '1.2.840.10008.1.2',
    });
    const { output } = await split(meta);
    expect(output.length).toBe(0);
  });

  it('rejects a file without DICM at offset 128', async () => {
    const bytes = Buffer.from(instance.part10);
    bytes.write('DICX', 128, 'latin1');
    expect((await splitError(bytes)).reason).toBe('not-part10');
    expect((await splitError(instance.dataset)).reason).toBe('not-part10');
    expect((await splitError(Buffer.from('tiny'))).reason).toBe('not-part10');
    expect((await splitError(Buffer.alloc(0))).reason).toBe('not-part10');
  });

  it('reports a truncated meta group', async () => {
    for (const cut of [132, 140, instance.metaLength - 1]) {
      expect((await splitError(instance.part10.subarray(0, cut))).reason).toBe('truncated');
    }
  });

  it('rejects a meta group without TransferSyntaxUID', async () => {
    const meta = Buffer.concat([prefix(), metaElement(0x0003, 'UI', '1.2.3.4')]);
    const err = await splitError(Buffer.concat([meta, Buffer.from([8, 0, 5, 0])]));
    expect(err.reason).toBe('malformed');
    expect(err.message).toContain('TransferSyntaxUID');
  });

  it('rejects bad meta element lengths', async () => {
    // An element that runs past the declared group length.
    const inner = metaElement(0x0010, 'UI', '1.2.840.10008.1.2\0');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(inner.length - 4);
    const overrun = Buffer.concat([
      prefix(),
      metaElement(0x0000, 'UL', length),
      inner,
      Buffer.alloc(8),
    ]);
    expect((await splitError(overrun)).reason).toBe('malformed');

    // A group length beyond 64 KiB.
    length.writeUInt32LE(1_000_000);
    const huge = Buffer.concat([prefix(), metaElement(0x0000, 'UL', length), inner]);
    expect((await splitError(huge)).reason).toBe('malformed');

    // An element length of 0xFFFFFFFF.
    const undefinedLength = metaElement(0x0001, 'OB', Buffer.alloc(0));
    undefinedLength.writeUInt32LE(0xffffffff, 8);
    expect((await splitError(Buffer.concat([prefix(), undefinedLength]))).reason).toBe('malformed');

    // A 200 KiB element in a meta group without group length.
    const big = metaElement(0x0001, 'OB', Buffer.alloc(200 * 1024));
    expect((await splitError(Buffer.concat([prefix(), big]))).reason).toBe('malformed');

    // A bad VR.
    expect(
      (await splitError(Buffer.concat([prefix(), metaElement(0x0010, '\0\0', '1.2')]))).reason,
    ).toBe('malformed');
  });

  it('rejects the meta promise and errors the stream alike', async () => {
    const splitter = new Part10Splitter();
    const errored = new Promise<Error>((resolve) => splitter.on('error', resolve));
    splitter.end(Buffer.alloc(200));
    const err = await errored;
    await expect(splitter.meta).rejects.toBe(err);
    expect((err as DicomFormatError).reason).toBe('not-part10');
  });

  it('rejects the meta promise when destroyed early', async () => {
    const splitter = new Part10Splitter();
    splitter.write(Buffer.alloc(10));
    splitter.destroy();
    await expect(splitter.meta).rejects.toMatchObject({ reason: 'truncated' });
  });
});
