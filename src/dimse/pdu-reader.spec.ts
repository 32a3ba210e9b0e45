import { describe, expect, it } from 'vitest';
import {
  AbortReason,
  encodeAbort,
  encodePDataTf,
  encodeReleaseRq,
  PduError,
  PduType,
} from './pdu.js';
import { MAX_CONTROL_PDU_LENGTH, PduReader, type PduSink } from './pdu-reader.js';

/** Records what the reader reports, as strings, and the PDV payload bytes. */
function recorder(options: { allowPData?: boolean } = {}): {
  sink: PduSink;
  events: string[];
  payload: Buffer[];
} {
  const events: string[] = [];
  const payload: Buffer[] = [];
  const sink: PduSink = {
    onControlPdu: (type, body) => events.push(`control ${type} ${body.length}`),
    onPDataStart: () => {
      if (options.allowPData === false) throw new PduError('no', AbortReason.UnexpectedPdu);
      events.push('pdata');
    },
    onPdvStart: (pcId, isCommand, isLast, length) =>
      events.push(
        `pdv ${pcId} ${isCommand ? 'cmd' : 'data'} ${isLast ? 'last' : 'more'} ${length}`,
      ),
    onPdvData: (slice) => payload.push(slice),
    onPdvEnd: () => events.push('end'),
  };
  return { sink, events, payload };
}

const stream = Buffer.concat([
  encodeReleaseRq(),
  encodePDataTf([
    { presentationContextId: 1, isCommand: true, isLast: true, data: Buffer.from('command') },
    { presentationContextId: 1, isCommand: false, isLast: false, data: Buffer.alloc(0) },
    {
      presentationContextId: 1,
      isCommand: false,
      isLast: true,
      data: Buffer.from('dataset bytes'),
    },
  ]),
  encodeAbort(0, 0),
]);

const expectedEvents = [
  `control ${PduType.ReleaseRq} 4`,
  'pdata',
  'pdv 1 cmd last 7',
  'end',
  'pdv 1 data more 0',
  'end',
  'pdv 1 data last 13',
  'end',
  `control ${PduType.Abort} 4`,
];

describe('PduReader', () => {
  it('reports the same events however the bytes are split', () => {
    for (const size of [1, 2, 5, 6, 7, 13, 64, stream.length]) {
      const { sink, events, payload } = recorder();
      const reader = new PduReader(sink, 1 << 20);
      for (let off = 0; off < stream.length; off += size)
        reader.push(stream.subarray(off, off + size));
      expect(events).toEqual(expectedEvents);
      expect(Buffer.concat(payload).toString()).toBe('commanddataset bytes');
    }
  });

  it('hands PDV payloads on as views of the input, not copies', () => {
    const { sink, payload } = recorder();
    new PduReader(sink, 1 << 20).push(stream);
    const last = payload[payload.length - 1]!;
    expect(last.buffer).toBe(stream.buffer);
  });

  it.each([
    [
      'an unknown PDU type',
      Buffer.from([0x47, 0x45, 0x54, 0x20, 0x2f, 0x20]),
      AbortReason.UnrecognizedPdu,
    ],
    [
      'a 4 GiB control PDU',
      Buffer.from([0x01, 0, 0xff, 0xff, 0xff, 0xff]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'a P-DATA-TF over the limit',
      Buffer.from([0x04, 0, 0, 0x10, 0, 0x01]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'a P-DATA-TF without PDVs',
      Buffer.from([0x04, 0, 0, 0, 0, 2, 0, 0]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'a PDV longer than its PDU',
      Buffer.from([0x04, 0, 0, 0, 0, 8, 0, 0, 0, 9, 1, 3, 0, 0]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'a PDV length below 2',
      Buffer.from([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 1, 1, 3]),
      AbortReason.InvalidPduParameterValue,
    ],
    [
      'trailing bytes after the last PDV',
      Buffer.from([0x04, 0, 0, 0, 0, 9, 0, 0, 0, 2, 1, 3, 0, 0, 0]),
      AbortReason.InvalidPduParameterValue,
    ],
  ])('rejects %s', (_name, input, reason) => {
    const { sink } = recorder();
    const reader = new PduReader(sink, 1 << 20);
    try {
      reader.push(input);
      expect.fail('expected a PduError');
    } catch (err) {
      expect(err).toBeInstanceOf(PduError);
      expect((err as PduError).abortReason).toBe(reason);
    }
  });

  it('lets the sink refuse P-DATA (e.g. before the association is established)', () => {
    const { sink } = recorder({ allowPData: false });
    expect(() =>
      new PduReader(sink, 1 << 20).push(Buffer.from([0x04, 0, 0xff, 0xff, 0xff, 0xff])),
    ).toThrow(PduError);
  });

  it('caps control PDUs at 1 MiB and ignores everything once stopped', () => {
    expect(MAX_CONTROL_PDU_LENGTH).toBe(1024 * 1024);
    const { sink, events } = recorder();
    const reader = new PduReader(sink, 1 << 20);
    reader.stop();
    reader.push(stream);
    expect(events).toEqual([]);
  });
});
