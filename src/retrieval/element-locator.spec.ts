import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteReader } from './byte-reader.js';
import { locateElement } from './element-locator.js';

const LONG = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);
const EXPLICIT = { explicitVr: true, littleEndian: true, deflated: false };
const IMPLICIT = { explicitVr: false, littleEndian: true, deflated: false };

function tagBytes(tag: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(parseInt(tag.slice(0, 4), 16), 0);
  b.writeUInt16LE(parseInt(tag.slice(4), 16), 2);
  return b;
}

/** A minimal little endian element encoder; `length` null writes an undefined length. */
function el(
  tag: string,
  vr: string,
  value: Buffer,
  explicit: boolean,
  length: number | null = value.length,
): Buffer {
  const len = length ?? 0xffffffff;
  if (!explicit) {
    const h = Buffer.alloc(4);
    h.writeUInt32LE(len >>> 0, 0);
    return Buffer.concat([tagBytes(tag), h, value]);
  }
  if (LONG.has(vr)) {
    const h = Buffer.alloc(8);
    h.write(vr, 0, 'latin1');
    h.writeUInt32LE(len >>> 0, 4);
    return Buffer.concat([tagBytes(tag), h, value]);
  }
  const h = Buffer.alloc(4);
  h.write(vr, 0, 'latin1');
  h.writeUInt16LE(len, 2);
  return Buffer.concat([tagBytes(tag), h, value]);
}

function item(content: Buffer, defined: boolean): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(defined ? content.length : 0xffffffff, 0);
  const end = defined ? Buffer.alloc(0) : Buffer.concat([tagBytes('FFFEE00D'), Buffer.alloc(4)]);
  return Buffer.concat([tagBytes('FFFEE000'), h, content, end]);
}
const seqEnd = () => Buffer.concat([tagBytes('FFFEE0DD'), Buffer.alloc(4)]);

function dataset(explicit: boolean): { bytes: Buffer; blob: Buffer; nested: Buffer } {
  const blob = Buffer.alloc(2048, 0xab);
  const nested = Buffer.alloc(1500, 0xcd);
  const items = Buffer.concat([
    item(el('00081150', 'UI', Buffer.from('1.2\0'), explicit), false),
    item(
      Buffer.concat([
        el('00081150', 'UI', Buffer.from('1.3\0'), explicit),
        el('00420011', 'OB', nested, explicit),
      ]),
      true,
    ),
  ]);
  const bytes = Buffer.concat([
    el('00080016', 'UI', Buffer.from('1.2.840.10008.5.1.4.1.1.2\0'), explicit),
    // An undefined-length sequence with an undefined-length item and a defined-length one.
    el('00081140', 'SQ', Buffer.concat([items, seqEnd()]), explicit, null),
    el('00100010', 'PN', Buffer.from('Doe^Jane'), explicit),
    el('00282000', 'OB', blob, explicit),
    el('00290010', 'LO', Buffer.from('SIEMENS '), explicit),
  ]);
  return { bytes, blob, nested };
}

async function valueAt(
  bytes: Buffer,
  encoding: typeof EXPLICIT,
  path: Array<string | number>,
): Promise<Buffer | null> {
  const reader = new ByteReader(
    Readable.from([bytes.subarray(0, 7), bytes.subarray(7, 100), bytes.subarray(100)]),
  );
  const h = await locateElement(reader, encoding, path);
  if (!h) return null;
  await reader.skip(h.headerLength);
  const chunks: Buffer[] = [];
  for await (const c of reader.take(h.valueLength!)) chunks.push(c);
  reader.close();
  return Buffer.concat(chunks);
}

describe.each([
  ['explicit VR', EXPLICIT, true],
  ['implicit VR', IMPLICIT, false],
])('locateElement (%s)', (_name, encoding, explicit) => {
  const { bytes, blob, nested } = dataset(explicit);

  it('finds a top-level element after an undefined-length sequence', async () => {
    expect(await valueAt(bytes, encoding, ['00282000'])).toEqual(blob);
    expect((await valueAt(bytes, encoding, ['00290010']))?.toString()).toBe('SIEMENS ');
  });

  it('finds an element inside the second (defined-length) item', async () => {
    expect(await valueAt(bytes, encoding, ['00081140', 1, '00420011'])).toEqual(nested);
  });

  it('returns null for what is not there', async () => {
    expect(await valueAt(bytes, encoding, ['00420011'])).toBeNull();
    expect(await valueAt(bytes, encoding, ['00081140', 0, '00420011'])).toBeNull();
    expect(await valueAt(bytes, encoding, ['00081140', 5, '00420011'])).toBeNull();
  });
});
