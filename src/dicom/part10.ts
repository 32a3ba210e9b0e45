import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { DicomFormatError } from './errors.js';
import { isValidUid, LONG_VRS } from './uids.js';

/**
 * DICOM Part 10 file framing (PS3.10 section 7): a 128-byte preamble, "DICM", then the File Meta
 * Information (group 0002, always explicit VR little endian), then the data set in the transfer
 * syntax the meta names. Strata stores instances as Part 10 files and receives them both with a
 * meta header (STOW-RS, folder import) and without one (C-STORE), so it needs both directions.
 */

/** Strata's implementation identity in the meta header (PS3.7 D.3.3.2). */
export const IMPLEMENTATION_CLASS_UID = '1.2.826.0.1.3680043.10.1461.1';
export const IMPLEMENTATION_VERSION_NAME = 'STRATA_010';

const PREAMBLE_LENGTH = 128;
const DATASET_PREFIX_LENGTH = PREAMBLE_LENGTH + 4; // preamble + "DICM"
/** The meta group is a few hundred bytes in practice; a bigger one is an attack or garbage. */
export const MAX_META_GROUP_BYTES = 64 * 1024;
const UNDEFINED_LENGTH = 0xffffffff;

export interface Part10MetaInput {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** The calling AE title that sent the instance, if known (0002,0016). */
  sourceAet?: string;
}

/** Builds the preamble, "DICM" and the File Meta Information group for a data set. */
export function writePart10Meta(input: Part10MetaInput): Buffer {
  const uids: Array<[string, string]> = [
    ['MediaStorageSOPClassUID', input.sopClassUid],
    ['MediaStorageSOPInstanceUID', input.sopInstanceUid],
    ['TransferSyntaxUID', input.transferSyntaxUid],
  ];
  for (const [keyword, uid] of uids) {
    if (!isValidUid(uid)) {
      throw new DicomFormatError('invalid-uid', `${keyword} is not a valid UID`);
    }
  }
  const elements: Buffer[] = [
    metaElement(0x0001, 'OB', Buffer.from([0x00, 0x01])), // FileMetaInformationVersion
    metaElement(0x0002, 'UI', uidBytes(input.sopClassUid)),
    metaElement(0x0003, 'UI', uidBytes(input.sopInstanceUid)),
    metaElement(0x0010, 'UI', uidBytes(input.transferSyntaxUid)),
    metaElement(0x0012, 'UI', uidBytes(IMPLEMENTATION_CLASS_UID)),
    metaElement(0x0013, 'SH', textBytes(IMPLEMENTATION_VERSION_NAME)),
  ];
  if (input.sourceAet !== undefined) {
    const aet = input.sourceAet.trim();
    // AE is 1 to 16 characters of the default repertoire without backslash or controls.
    if (aet.length === 0 || aet.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(aet)) {
      throw new RangeError('sourceAet must be a valid AE title (1 to 16 characters)');
    }
    elements.push(metaElement(0x0016, 'AE', textBytes(aet)));
  }
  const groupLength = elements.reduce((sum, e) => sum + e.length, 0);
  const lengthValue = Buffer.alloc(4);
  lengthValue.writeUInt32LE(groupLength, 0);
  const prefix = Buffer.alloc(DATASET_PREFIX_LENGTH);
  prefix.write('DICM', PREAMBLE_LENGTH, 'latin1');
  return Buffer.concat([prefix, metaElement(0x0000, 'UL', lengthValue), ...elements]);
}

/** UIDs are padded to even length with a NUL (PS3.5 9.1). */
function uidBytes(uid: string): Buffer {
  return Buffer.from(uid.length % 2 === 0 ? uid : `${uid}\0`, 'latin1');
}

/** Other strings are padded with a space (PS3.5 6.2). */
function textBytes(s: string): Buffer {
  return Buffer.from(s.length % 2 === 0 ? s : `${s} `, 'latin1');
}

function metaElement(element: number, vr: string, value: Buffer): Buffer {
  const long = LONG_VRS.has(vr);
  const header = Buffer.alloc(long ? 12 : 8);
  header.writeUInt16LE(0x0002, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  if (long) header.writeUInt32LE(value.length, 8);
  else header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

/** What the File Meta Information says about the data set that follows it. */
export interface Part10Meta {
  transferSyntaxUid: string;
  /** null when the (Type 1, but sometimes missing) element is absent. */
  mediaStorageSopClassUid: string | null;
  mediaStorageSopInstanceUid: string | null;
  sourceAet?: string;
  /** Bytes before the data set: preamble, "DICM" and the whole meta group. */
  metaLength: number;
}

type MetaScan = { need: number } | { meta: Part10Meta };

/**
 * Parses the meta group from the start of a file. Returns how many bytes it needs when `bytes`
 * is too short, so that the caller can wait for more without re-scanning on every chunk.
 * `ended` says no more bytes will come (then a meta group without a group length may end here).
 */
function scanMeta(bytes: Buffer, ended: boolean): MetaScan {
  if (bytes.length < DATASET_PREFIX_LENGTH) {
    const seen = bytes.subarray(PREAMBLE_LENGTH).toString('latin1');
    if (!'DICM'.startsWith(seen)) throw notPart10();
    return { need: DATASET_PREFIX_LENGTH };
  }
  if (bytes.toString('latin1', PREAMBLE_LENGTH, DATASET_PREFIX_LENGTH) !== 'DICM') {
    throw notPart10();
  }
  const values = new Map<number, string>();
  let pos = DATASET_PREFIX_LENGTH;
  // With a group length the meta ends where it says; without one (older writers) it ends at
  // the first element outside group 0002.
  let metaEnd: number | null = null;
  for (;;) {
    if (metaEnd !== null && pos === metaEnd) break;
    if (pos - DATASET_PREFIX_LENGTH > MAX_META_GROUP_BYTES) {
      throw new DicomFormatError('malformed', 'the file meta information is larger than 64 KiB');
    }
    if (metaEnd === null) {
      if (bytes.length < pos + 2) {
        if (ended && bytes.length === pos && pos > DATASET_PREFIX_LENGTH) break;
        return { need: pos + 2 };
      }
      if (bytes.readUInt16LE(pos) !== 0x0002) break;
    }
    if (bytes.length < pos + 8) return { need: pos + 8 };
    const group = bytes.readUInt16LE(pos);
    const element = bytes.readUInt16LE(pos + 2);
    const vr = bytes.toString('latin1', pos + 4, pos + 6);
    if (group !== 0x0002 || !/^[A-Z]{2}$/.test(vr)) {
      throw new DicomFormatError('malformed', 'the file meta information has a malformed element');
    }
    let headerLength = 8;
    let length = bytes.readUInt16LE(pos + 6);
    if (LONG_VRS.has(vr)) {
      if (bytes.length < pos + 12) return { need: pos + 12 };
      headerLength = 12;
      length = bytes.readUInt32LE(pos + 8);
    }
    const end: number = pos + headerLength + length;
    // Odd lengths are tolerated here: some old writers emit unpadded UIDs, and nothing in the
    // meta group depends on alignment.
    if (
      length === UNDEFINED_LENGTH ||
      end - DATASET_PREFIX_LENGTH > MAX_META_GROUP_BYTES ||
      (metaEnd !== null && end > metaEnd)
    ) {
      throw new DicomFormatError('malformed', 'a file meta information element has a bad length');
    }
    if (bytes.length < end) return { need: end };
    if (element === 0x0000 && pos === DATASET_PREFIX_LENGTH) {
      if (vr !== 'UL' || length !== 4) {
        throw new DicomFormatError('malformed', 'the file meta group length is malformed');
      }
      metaEnd = end + bytes.readUInt32LE(pos + headerLength);
      if (metaEnd - DATASET_PREFIX_LENGTH > MAX_META_GROUP_BYTES) {
        throw new DicomFormatError('malformed', 'the file meta information is larger than 64 KiB');
      }
    } else if (element !== 0x0000) {
      values.set(element, bytes.toString('latin1', pos + headerLength, end));
    }
    pos = end;
  }
  const transferSyntaxUid = trimUid(values.get(0x0010));
  if (!transferSyntaxUid) {
    throw new DicomFormatError('malformed', 'the file meta information has no TransferSyntaxUID');
  }
  const sourceAet = values.get(0x0016)?.trim();
  return {
    meta: {
      transferSyntaxUid,
      mediaStorageSopClassUid: trimUid(values.get(0x0002)) || null,
      mediaStorageSopInstanceUid: trimUid(values.get(0x0003)) || null,
      ...(sourceAet ? { sourceAet } : {}),
      metaLength: pos,
    },
  };
}

function trimUid(value: string | undefined): string {
  return (value ?? '').replace(/[\0 ]+$/, '').trim();
}

function notPart10(): DicomFormatError {
  return new DicomFormatError('not-part10', 'not a DICOM Part 10 file (no "DICM" at offset 128)');
}

/**
 * Splits a Part 10 file stream into its meta information and its data set. Emits `'meta'` with a
 * {@link Part10Meta} (and resolves {@link Part10Splitter.meta}) once the meta group is read, then
 * passes through only the data set bytes, unchanged and without copying. The meta is bounded
 * (64 KiB), so nothing here grows with the size of the file.
 */
export class Part10Splitter extends Transform {
  /** Resolves with the meta information, or rejects with the stream's error. */
  readonly meta: Promise<Part10Meta>;

  private resolveMeta!: (meta: Part10Meta) => void;
  private rejectMeta!: (err: Error) => void;
  private settled = false;
  /** The start of the file, kept only until the meta group is complete. */
  private head: Buffer = Buffer.alloc(0);
  private headLength = 0;
  private need = DATASET_PREFIX_LENGTH;

  constructor(options?: TransformOptions) {
    super(options);
    this.meta = new Promise<Part10Meta>((resolve, reject) => {
      this.resolveMeta = resolve;
      this.rejectMeta = reject;
    });
    // The stream's 'error' event reports failures; this keeps an unobserved promise quiet.
    this.meta.catch(() => undefined);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.settled) {
      callback(null, chunk);
      return;
    }
    try {
      // Usually the first chunk holds the whole meta group: then the data set that follows it
      // is passed on as a view of that chunk, and nothing is copied at all.
      if (this.headLength === 0 && chunk.length >= this.need) {
        this.tryMeta(chunk, false);
        if (this.settled) {
          callback();
          return;
        }
      }
      this.append(chunk);
      if (this.headLength >= this.need) this.tryMeta(this.head.subarray(0, this.headLength), false);
      callback();
    } catch (err) {
      callback(this.fail(err));
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.settled) {
      callback();
      return;
    }
    try {
      // Fewer bytes than a preamble and "DICM": nothing says this was ever a Part 10 file.
      if (this.headLength < DATASET_PREFIX_LENGTH) throw notPart10();
      this.tryMeta(this.head.subarray(0, this.headLength), true);
      if (!this.settled) {
        throw new DicomFormatError('truncated', 'the file ends inside its meta information');
      }
      callback();
    } catch (err) {
      callback(this.fail(err));
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.settled) {
      this.fail(err ?? new DicomFormatError('truncated', 'the stream closed before its meta'));
    }
    callback(err);
  }

  /** Appends to the head buffer, doubling its capacity so that tiny chunks stay linear. */
  private append(chunk: Buffer): void {
    const needed = this.headLength + chunk.length;
    if (needed > this.head.length) {
      const grown = Buffer.alloc(Math.max(needed, this.head.length * 2, 1024));
      this.head.copy(grown, 0, 0, this.headLength);
      this.head = grown;
    }
    chunk.copy(this.head, this.headLength);
    this.headLength = needed;
  }

  private tryMeta(bytes: Buffer, ended: boolean): void {
    const scan = scanMeta(bytes, ended);
    if ('need' in scan) {
      this.need = scan.need;
      return;
    }
    this.settled = true;
    this.head = Buffer.alloc(0);
    this.emit('meta', scan.meta);
    this.resolveMeta(scan.meta);
    if (bytes.length > scan.meta.metaLength) this.push(bytes.subarray(scan.meta.metaLength));
  }

  private fail(err: unknown): Error {
    const error =
      err instanceof Error ? err : new DicomFormatError('malformed', 'unreadable meta information');
    if (!this.settled) {
      this.settled = true;
      this.rejectMeta(error);
    }
    return error;
  }
}
