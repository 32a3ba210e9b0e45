import { describe, expect, it } from 'vitest';
import {
  CommandDecodeError,
  CommandField,
  decodeCommand,
  type DimseCommand,
  encodeCommand,
  hasDataSet,
  MAX_COMMAND_LENGTH,
  NO_DATA_SET,
} from './command.js';
import { DimseStatus, statusCategory } from './status.js';

/** One Implicit VR LE element. */
function element(group: number, elementNo: number, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(elementNo, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}
const us = (n: number): Buffer => Buffer.from([n & 0xff, n >> 8]);

describe('command set encoding', () => {
  it('round-trips every supported element', () => {
    const cmd: DimseCommand = {
      affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      requestedSopClassUid: '1.2.3',
      commandField: CommandField.CMoveRsp,
      messageId: 7,
      messageIdBeingRespondedTo: 6,
      moveDestination: 'DEST',
      priority: 2,
      commandDataSetType: NO_DATA_SET,
      status: DimseStatus.Pending,
      offendingElement: [0x00100020, 0x7fe00010],
      errorComment: 'odd',
      errorId: 3,
      affectedSopInstanceUid: '1.2.3.4.5',
      requestedSopInstanceUid: '1.2.3.4.6',
      eventTypeId: 1,
      attributeIdentifierList: [0x00080018],
      actionTypeId: 2,
      numberOfRemainingSuboperations: 10,
      numberOfCompletedSuboperations: 11,
      numberOfFailedSuboperations: 12,
      numberOfWarningSuboperations: 13,
      moveOriginatorApplicationEntityTitle: 'ORIGIN',
      moveOriginatorMessageId: 99,
    };
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  /** The (0000,eeee) elements of an encoded command, element number -> value bytes. */
  function elements(buf: Buffer): Map<number, Buffer> {
    const out = new Map<number, Buffer>();
    for (let off = 12; off < buf.length;) {
      const length = buf.readUInt32LE(off + 4);
      out.set(buf.readUInt16LE(off + 2), buf.subarray(off + 8, off + 8 + length));
      off += 8 + length;
    }
    return out;
  }

  it('puts the sub-operation, event and move originator fields at their PS3.7 tags', () => {
    const cmd: DimseCommand = {
      commandField: CommandField.CStoreRq,
      messageId: 3,
      affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      affectedSopInstanceUid: '1.2.3.4',
      priority: 0,
      commandDataSetType: 0x0000,
      moveOriginatorApplicationEntityTitle: 'MOVESCU',
      moveOriginatorMessageId: 513,
    };
    const els = elements(encodeCommand(cmd));
    expect(els.get(0x0100)).toEqual(us(0x0001));
    expect(els.get(0x1000)).toEqual(Buffer.from('1.2.3.4\0')); // Affected SOP Instance UID
    expect(els.get(0x1030)).toEqual(Buffer.from('MOVESCU ')); // AE, space padded
    expect(els.get(0x1031)).toEqual(us(513));

    const report = elements(
      encodeCommand({
        commandField: CommandField.NEventReportRq,
        messageId: 1,
        affectedSopClassUid: '1.2.840.10008.1.20.1',
        affectedSopInstanceUid: '1.2.840.10008.1.20.1.1',
        eventTypeId: 2,
        commandDataSetType: 0x0000,
      }),
    );
    expect(report.get(0x0100)).toEqual(us(0x0100));
    expect(report.get(0x1002)).toEqual(us(2)); // Event Type ID

    const action = elements(
      encodeCommand({
        commandField: CommandField.NActionRq,
        messageId: 1,
        requestedSopClassUid: '1.2.840.10008.1.20.1',
        requestedSopInstanceUid: '1.2.840.10008.1.20.1.1',
        actionTypeId: 1,
        commandDataSetType: 0x0000,
      }),
    );
    expect(action.get(0x0100)).toEqual(us(0x0130));
    expect(action.get(0x0003)).toEqual(Buffer.from('1.2.840.10008.1.20.1'));
    expect(action.get(0x1001)).toEqual(Buffer.from('1.2.840.10008.1.20.1.1')); // Requested
    expect(action.get(0x1008)).toEqual(us(1)); // Action Type ID

    const counters = elements(
      encodeCommand({
        commandField: CommandField.CGetRsp,
        messageIdBeingRespondedTo: 1,
        commandDataSetType: NO_DATA_SET,
        status: 0xff00,
        numberOfRemainingSuboperations: 4,
        numberOfCompletedSuboperations: 3,
        numberOfFailedSuboperations: 2,
        numberOfWarningSuboperations: 1,
      }),
    );
    expect([0x1020, 0x1021, 0x1022, 0x1023].map((e) => counters.get(e))).toEqual([
      us(4),
      us(3),
      us(2),
      us(1),
    ]);
  });

  it('has the response command fields of the requests we send', () => {
    expect(CommandField.CStoreRsp).toBe(CommandField.CStoreRq | 0x8000);
    expect(CommandField.NEventReportRsp).toBe(0x8100);
    expect(CommandField.NActionRq).toBe(0x0130);
    expect(CommandField.NActionRsp).toBe(0x8130);
  });

  it('writes a correct group length, ascending tags and even padding', () => {
    const buf = encodeCommand({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 1,
      affectedSopClassUid: '1.2.3', // odd length: NUL padded
      affectedSopInstanceUid: '1.2.34',
      commandDataSetType: NO_DATA_SET,
      status: 0,
    });
    expect(buf.readUInt32LE(0)).toBe(0); // (0000,0000)
    expect(buf.readUInt32LE(4)).toBe(4);
    expect(buf.readUInt32LE(8)).toBe(buf.length - 12);
    let off = 12;
    let last = -1;
    while (off < buf.length) {
      const el = buf.readUInt16LE(off + 2);
      const len = buf.readUInt32LE(off + 4);
      expect(el).toBeGreaterThan(last);
      expect(len % 2).toBe(0);
      last = el;
      off += 8 + len;
    }
    expect(off).toBe(buf.length);
    expect(buf.includes(Buffer.from('1.2.3\0'))).toBe(true);
  });

  it('decodes a hand-made C-ECHO-RQ, skipping unknown elements and other groups', () => {
    const buf = Buffer.concat([
      element(0, 0x0000, Buffer.from([0, 0, 0, 0])),
      element(0, 0x0002, Buffer.from('1.2.840.10008.1.1\0')),
      element(0, 0x0100, us(0x0030)),
      element(0, 0x0110, us(42)),
      element(0, 0x0800, us(0x0101)),
      element(0, 0x4000, Buffer.from('ignored!')), // retired/unknown
      element(8, 0x0018, Buffer.from('1.2')), // not group 0000
    ]);
    const cmd = decodeCommand(buf);
    expect(cmd).toEqual({
      affectedSopClassUid: '1.2.840.10008.1.1',
      commandField: 0x0030,
      messageId: 42,
      commandDataSetType: 0x0101,
    });
    expect(hasDataSet(cmd)).toBe(false);
    expect(hasDataSet({ ...cmd, commandDataSetType: 0x0000 })).toBe(true);
  });

  it('defaults a missing CommandDataSetType to "no data set"', () => {
    expect(decodeCommand(element(0, 0x0100, us(0x0030))).commandDataSetType).toBe(NO_DATA_SET);
  });

  it.each([
    ['truncated element header', Buffer.from([0, 0, 0, 1, 2])],
    ['length past end', element(0, 0x0100, us(1)).subarray(0, 9)],
    ['undefined length', Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])],
    ['US of wrong length', element(0, 0x0100, Buffer.from([1, 2, 3, 4]))],
    [
      'AT of wrong length',
      Buffer.concat([element(0, 0x0100, us(1)), element(0, 0x0901, Buffer.from([1, 2]))]),
    ],
    ['missing CommandField', element(0, 0x0110, us(1))],
    ['too long', Buffer.alloc(MAX_COMMAND_LENGTH + 2)],
  ])('rejects %s', (_name, input) => {
    expect(() => decodeCommand(input)).toThrow(CommandDecodeError);
  });

  it('throws nothing but CommandDecodeError on random input', () => {
    let seed = 99;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(Array.from({ length: i % 120 }, rand));
      try {
        decodeCommand(junk);
      } catch (err) {
        expect(err).toBeInstanceOf(CommandDecodeError);
      }
    }
  });
});

describe('statusCategory', () => {
  it.each([
    [0x0000, 'success'],
    [0xb000, 'warning'],
    [0x0107, 'warning'],
    [0xff00, 'pending'],
    [0xff01, 'pending'],
    [0xfe00, 'cancel'],
    [0xa700, 'failure'],
    [0xa900, 'failure'],
    [0xc000, 'failure'],
    [0x0110, 'failure'],
    [0x0122, 'failure'],
    [0x0211, 'failure'],
  ])('status %i is %s', (status, category) => {
    expect(statusCategory(status)).toBe(category);
  });
});
