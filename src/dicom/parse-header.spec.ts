import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DicomFormatError } from './errors.js';
import { HeaderCapture } from './header-capture.js';
import { parseHeaderSync, type ParsedHeader } from './parse-header.js';
import {
  encodeElement,
  makeInstance,
  type FixtureElement,
  type FixtureEncoding,
  type FixtureTransferSyntax,
  type InstanceOptions,
} from './testing/fixtures.js';
import { TransferSyntax } from './uids.js';

/** Capture then parse, the way the ingestion pipeline does (minus the worker). */
function roundTrip(opts: InstanceOptions): {
  parsed: ParsedHeader;
  instance: ReturnType<typeof makeInstance>;
} {
  const instance = makeInstance(opts);
  const capture = new HeaderCapture(instance.transferSyntaxUid);
  capture.push(instance.dataset);
  const { headerBytes, bulk } = capture.finish();
  return { parsed: parseHeaderSync(headerBytes, instance.transferSyntaxUid, bulk), instance };
}

function parseError(run: () => unknown): DicomFormatError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(DicomFormatError);
    return err as DicomFormatError;
  }
  throw new Error('expected a DicomFormatError');
}

const EXPLICIT_LE: FixtureEncoding = { explicitVr: true, littleEndian: true, text: 'latin1' };

describe('parseHeaderSync', () => {
  describe.each<FixtureTransferSyntax>([
    'implicit',
    'explicit',
    'explicit-big-endian',
    'deflated',
    'jpeg-baseline',
  ])('round trip, %s', (transferSyntax) => {
    it('indexes the attributes and keeps the metadata', () => {
      const { parsed, instance } = roundTrip({
        transferSyntax,
        patientName: 'Doe^John^Q^Dr^Jr',
        patientId: 'P-42',
        birthDate: '19800229',
        sex: 'M',
        studyDate: '20240315',
        studyTime: '093000.123',
        accession: 'A123',
        studyDescription: 'CT HEAD',
        seriesNumber: 3,
        instanceNumber: 17,
        rows: 32,
        columns: 24,
        frames: 2,
        modality: 'CT',
        extra: [
          { tag: '00080021', vr: 'DA', value: '20240316' },
          { tag: '00080031', vr: 'TM', value: '0931' },
          { tag: '00080023', vr: 'DA', value: '20240317' },
          { tag: '00080033', vr: 'TM', value: '093200' },
          { tag: '00080080', vr: 'LO', value: 'General Hospital' },
          { tag: '00080090', vr: 'PN', value: 'House^Gregory' },
          { tag: '0008103E', vr: 'LO', value: 'AXIAL 5mm' },
          { tag: '00100021', vr: 'LO', value: 'HOSP-A' },
          { tag: '00180015', vr: 'CS', value: 'HEAD' },
          { tag: '00400244', vr: 'DA', value: '20240315' },
          { tag: '00400245', vr: 'TM', value: '092900' },
        ],
      });
      expect(parsed).toMatchObject({
        transferSyntaxUid: instance.transferSyntaxUid,
        sopClassUid: instance.sopClassUid,
        sopInstanceUid: instance.sopInstanceUid,
        studyInstanceUid: instance.studyInstanceUid,
        seriesInstanceUid: instance.seriesInstanceUid,
        specificCharacterSet: null,
      });
      expect(parsed.attributes).toEqual({
        patientName: 'Doe^John^Q^Dr^Jr',
        patientId: 'P-42',
        issuerOfPatientId: 'HOSP-A',
        patientBirthDate: '19800229',
        patientSex: 'M',
        studyDate: '20240315',
        studyTime: '093000.123',
        accessionNumber: 'A123',
        studyId: '1',
        studyDescription: 'CT HEAD',
        referringPhysicianName: 'House^Gregory',
        institutionName: 'General Hospital',
        modality: 'CT',
        seriesNumber: 3,
        seriesDescription: 'AXIAL 5mm',
        bodyPartExamined: 'HEAD',
        seriesDate: '20240316',
        seriesTime: '0931',
        performedProcedureStepStartDate: '20240315',
        performedProcedureStepStartTime: '092900',
        instanceNumber: 17,
        rows: 32,
        columns: 24,
        numberOfFrames: 2,
        contentDate: '20240317',
        contentTime: '093200',
      });
      expect(parsed.metadata['00100010']).toEqual({
        vr: 'PN',
        Value: [{ Alphabetic: 'Doe^John^Q^Dr^Jr' }],
      });
      expect(parsed.metadata['00280010']).toEqual({ vr: 'US', Value: [32] });
      expect(parsed.metadata['7FE00010']).toEqual({
        vr: transferSyntax === 'jpeg-baseline' ? 'OB' : 'OW',
        BulkDataURI: '',
      });
      // The metadata is plain JSON.
      expect(JSON.parse(JSON.stringify(parsed.metadata))).toEqual(parsed.metadata);
    });
  });

  it('accepts a whole data set and stops at its Pixel Data', () => {
    const instance = makeInstance({ transferSyntax: 'implicit' });
    const parsed = parseHeaderSync(instance.dataset, instance.transferSyntaxUid);
    expect(parsed.sopInstanceUid).toBe(instance.sopInstanceUid);
    expect(parsed.metadata['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: '' });
  });

  it('parses the inflated header of a deflated data set', () => {
    const instance = makeInstance({ transferSyntax: 'deflated' });
    const inflated = zlib.inflateRawSync(instance.dataset);
    const parsed = parseHeaderSync(
      inflated.subarray(0, instance.pixelDataOffset!),
      instance.transferSyntaxUid,
    );
    expect(parsed.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
    expect(parsed.sopInstanceUid).toBe(instance.sopInstanceUid);
  });

  describe('metadata (DICOM JSON)', () => {
    const sequence: FixtureElement = {
      tag: '00081115',
      vr: 'SQ',
      items: [
        [
          { tag: '00081150', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
          { tag: '00081155', vr: 'UI', value: '1.2.3.4' },
        ],
        [],
      ],
    };
    const extra: FixtureElement[] = [
      sequence,
      { tag: '00090010', vr: 'LO', value: 'ACME 1.0' },
      { tag: '00091011', vr: 'OB', value: Buffer.from([1, 2, 3, 4]) },
      { tag: '00091012', vr: 'OB', value: Buffer.alloc(2000, 7) },
      { tag: '00281201', vr: 'OW', value: Buffer.from([0x01, 0x02, 0x03, 0x04]) },
      { tag: '00180050', vr: 'DS', value: ['2.5', '-1e3'] },
      { tag: '00209165', vr: 'AT', value: [0x00100010, 0x0020000d] },
      { tag: '00181310', vr: 'US', value: [0, 256, 256, 0] },
      { tag: '00080008', vr: 'CS', value: ['ORIGINAL', '', 'AXIAL'] },
      { tag: '00204000', vr: 'LT', value: '' },
      { tag: '00189087', vr: 'FD', value: [1.25] },
    ];

    it.each<FixtureTransferSyntax>(['explicit', 'implicit', 'explicit-big-endian'])(
      '%s',
      (transferSyntax) => {
        const { parsed } = roundTrip({ transferSyntax, extra });
        const m = parsed.metadata;
        expect(m['00081115']).toEqual({
          vr: 'SQ',
          Value: [
            {
              '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
              '00081155': { vr: 'UI', Value: ['1.2.3.4'] },
            },
            // An empty item is kept: item indexes in BulkDataURIs stay those of the data set.
            {},
          ],
        });
        expect(m['00090010']).toEqual({ vr: 'LO', Value: ['ACME 1.0'] });
        // Implicit VR private elements have no known VR.
        const privateVr = transferSyntax === 'implicit' ? 'UN' : 'OB';
        expect(m['00091011']).toEqual({ vr: privateVr, InlineBinary: 'AQIDBA==' });
        expect(m['00091012']).toEqual({ vr: privateVr, BulkDataURI: '' });
        // InlineBinary is little endian, whatever the transfer syntax.
        const ow = transferSyntax === 'explicit-big-endian' ? 'AgEEAw==' : 'AQIDBA==';
        expect(m['00281201']).toEqual({ vr: 'OW', InlineBinary: ow });
        expect(m['00180050']).toEqual({ vr: 'DS', Value: [2.5, -1000] });
        expect(m['00209165']).toEqual({ vr: 'AT', Value: ['00100010', '0020000D'] });
        expect(m['00181310']).toEqual({ vr: 'US', Value: [0, 256, 256, 0] });
        expect(m['00080008']).toEqual({ vr: 'CS', Value: ['ORIGINAL', null, 'AXIAL'] });
        expect(m['00204000']).toEqual({ vr: 'LT' });
        expect(m['00080090']).toEqual({ vr: 'PN' });
        expect(m['00189087']).toEqual({ vr: 'FD', Value: [1.25] });
      },
    );

    it('refines the VR of an implicit VR bulk element from the dictionary', () => {
      const { parsed } = roundTrip({
        transferSyntax: 'implicit',
        noPixelData: true,
        extra: [{ tag: '56000020', vr: 'OF', value: Buffer.alloc(2 * 1024 * 1024) }],
      });
      expect(parsed.metadata['56000020']).toEqual({ vr: 'OF', BulkDataURI: '' });
    });
  });

  describe('character sets', () => {
    it('decodes ISO_IR 100 (Latin-1)', () => {
      const { parsed, instance } = roundTrip({
        charset: 'ISO_IR 100',
        patientName: 'Müller^Jürgen',
        studyDescription: 'Schädel nativ',
      });
      // The bytes really are Latin-1: one byte per umlaut.
      expect(instance.dataset.includes(Buffer.from('M\xfcller', 'latin1'))).toBe(true);
      expect(parsed.attributes.patientName).toBe('Müller^Jürgen');
      expect(parsed.attributes.studyDescription).toBe('Schädel nativ');
      expect(parsed.specificCharacterSet).toBe('ISO_IR 100');
      expect(parsed.metadata['00080005']).toEqual({ vr: 'CS', Value: ['ISO_IR 100'] });
    });

    it('decodes ISO 2022 IR 100', () => {
      const { parsed } = roundTrip({ charset: 'ISO 2022 IR 100', patientName: 'Müller' });
      expect(parsed.attributes.patientName).toBe('Müller');
    });

    it('decodes ISO_IR 192 (UTF-8): German, Greek, Japanese', () => {
      const { parsed, instance } = roundTrip({
        transferSyntax: 'implicit',
        charset: 'ISO_IR 192',
        patientName: 'Müller^Jürgen=山田^太郎=やまだ^たろう',
        studyDescription: 'Διονυσιος',
      });
      expect(instance.dataset.includes(Buffer.from('Müller', 'utf8'))).toBe(true);
      expect(parsed.attributes.patientName).toBe('Müller^Jürgen');
      expect(parsed.attributes.studyDescription).toBe('Διονυσιος');
      expect(parsed.metadata['00100010']).toEqual({
        vr: 'PN',
        Value: [
          { Alphabetic: 'Müller^Jürgen', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' },
        ],
      });
    });

    it('decodes Japanese in ISO 2022 (\\ISO 2022 IR 87, PS3.5 H.3.1)', () => {
      const esc = '\x1b';
      const name = Buffer.from(
        `Yamada^Tarou=${esc}$B;3ED${esc}(B^${esc}$BB@O:${esc}(B=${esc}$B$d$^$@${esc}(B^${esc}$B$?$m$&${esc}(B`,
        'latin1',
      );
      const { parsed } = roundTrip({
        extra: [
          { tag: '00080005', vr: 'CS', value: ['', 'ISO 2022 IR 87'] },
          { tag: '00100010', vr: 'PN', value: name },
        ],
      });
      expect(parsed.specificCharacterSet).toBe('\\ISO 2022 IR 87');
      expect(parsed.attributes.patientName).toBe('Yamada^Tarou');
      expect(parsed.metadata['00100010']).toEqual({
        vr: 'PN',
        Value: [
          { Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' },
        ],
      });
      expect(parsed.metadata['00080005']).toEqual({ vr: 'CS', Value: [null, 'ISO 2022 IR 87'] });
    });

    it('decodes Korean in ISO 2022 (\\ISO 2022 IR 149, PS3.5 I.2)', () => {
      const name = Buffer.from([
        ...Buffer.from('Hong^Gildong=', 'latin1'),
        ...[
          0x1b, 0x24, 0x29, 0x43, 0xfb, 0xf3, 0x5e, 0x1b, 0x24, 0x29, 0x43, 0xd1, 0xce, 0xd4, 0xd7,
        ],
        0x3d,
        ...[
          0x1b, 0x24, 0x29, 0x43, 0xc8, 0xab, 0x5e, 0x1b, 0x24, 0x29, 0x43, 0xb1, 0xe6, 0xb5, 0xbf,
        ],
      ]);
      const { parsed } = roundTrip({
        extra: [
          { tag: '00080005', vr: 'CS', value: ['', 'ISO 2022 IR 149'] },
          { tag: '00100010', vr: 'PN', value: name },
        ],
      });
      expect(parsed.metadata['00100010']).toEqual({
        vr: 'PN',
        Value: [{ Alphabetic: 'Hong^Gildong', Ideographic: '洪^吉洞', Phonetic: '홍^길동' }],
      });
    });

    it('falls back to the default repertoire for an unknown character set', () => {
      const { parsed } = roundTrip({
        extra: [{ tag: '00080005', vr: 'CS', value: 'ISO_IR 999' }],
        patientName: 'Plain^Ascii',
      });
      expect(parsed.specificCharacterSet).toBe('ISO_IR 999');
      expect(parsed.attributes.patientName).toBe('Plain^Ascii');
    });
  });

  describe('errors', () => {
    it.each([
      ['00080018', 'SOPInstanceUID'],
      ['00080016', 'SOPClassUID'],
      ['0020000D', 'StudyInstanceUID'],
      ['0020000E', 'SeriesInstanceUID'],
    ])('a missing %s is missing-attribute', (tag, keyword) => {
      const err = parseError(() => roundTrip({ omit: [tag] }));
      expect(err.reason).toBe('missing-attribute');
      expect(err.message).toContain(keyword);
    });

    it('an invalid UID is invalid-uid, and the message does not quote it', () => {
      const err = parseError(() => roundTrip({ sopInstanceUid: '1.2.03.secret' }));
      expect(err.reason).toBe('invalid-uid');
      expect(err.message).toContain('SOPInstanceUID');
      expect(err.message).not.toContain('secret');
    });

    it('messages never carry patient data', () => {
      const err = parseError(() =>
        roundTrip({ patientName: 'Secret^Patient', omit: ['0020000D'] }),
      );
      expect(err.message).not.toContain('Secret');
    });

    it('an unsupported transfer syntax', () => {
      const err = parseError(() => parseHeaderSync(Buffer.alloc(0), '1.2.840.113619.5.2'));
      expect(err.reason).toBe('unsupported-transfer-syntax');
    });

    it('deep nesting the walker cannot see (implicit VR, defined lengths) is malformed', () => {
      // Implicit VR does not mark defined-length sequences, so the walker skips their values;
      // the decoder knows them from the dictionary and bounds the depth itself.
      const implicit: FixtureEncoding = { explicitVr: false, littleEndian: true, text: 'latin1' };
      let inner: FixtureElement[] = [];
      for (let i = 0; i < 100; i++) {
        inner = [{ tag: '00081115', vr: 'SQ', undefinedLength: false, items: [inner] }];
      }
      const bytes = Buffer.concat([
        encodeElement({ tag: '00080016', vr: 'UI', value: '1.2' }, implicit),
        encodeElement(inner[0]!, implicit),
      ]);
      const err = parseError(() => parseHeaderSync(bytes, TransferSyntax.ImplicitVRLittleEndian));
      expect(err.reason).toBe('malformed');
    });

    it('garbage is a DicomFormatError', () => {
      for (const ts of [
        TransferSyntax.ExplicitVRLittleEndian,
        TransferSyntax.ImplicitVRLittleEndian,
      ]) {
        parseError(() => parseHeaderSync(Buffer.from('this is not DICOM at all!!'), ts));
      }
      // Structurally valid, but not a header we can index: still a DicomFormatError.
      const badCharsetValue = encodeElement({ tag: '00080005', vr: 'SQ', items: [] }, EXPLICIT_LE);
      parseError(() => parseHeaderSync(badCharsetValue, TransferSyntax.ExplicitVRLittleEndian));
    });

    it('mutated files fail only with DicomFormatError (or parse)', () => {
      const instance = makeInstance({
        extra: [
          { tag: '00081115', vr: 'SQ', items: [[{ tag: '00081150', vr: 'UI', value: '1.2' }]] },
        ],
      });
      let a = 7;
      const random = (): number => {
        a = (a * 1103515245 + 12345) & 0x7fffffff;
        return a / 0x7fffffff;
      };
      for (let round = 0; round < 500; round++) {
        const bytes = Buffer.from(instance.dataset.subarray(0, instance.pixelDataOffset!));
        for (let k = 0; k < 3; k++)
          bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        try {
          parseHeaderSync(bytes, instance.transferSyntaxUid);
        } catch (err) {
          expect(err).toBeInstanceOf(DicomFormatError);
        }
      }
    });
  });
});
