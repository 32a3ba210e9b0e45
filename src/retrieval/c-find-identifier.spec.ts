import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { type DicomJsonDataset, encodeDataSet, TransferSyntax } from '../dicom/index.js';
import {
  findModelOf,
  findQueryOf,
  FindRefusal,
  parseFindIdentifier,
  pendingStatus,
  readIdentifier,
} from './c-find-identifier.js';

const {
  ImplicitVRLittleEndian: IMPLICIT,
  ExplicitVRLittleEndian: EXPLICIT,
  ExplicitVRBigEndian: BIG_ENDIAN,
  DeflatedExplicitVRLittleEndian: DEFLATED,
} = TransferSyntax;
const STUDY = '1.2.826.0.1.3680043.8.498.1';
const SERIES = '1.2.826.0.1.3680043.8.498.2';

const level = (l: string) => ({ '00080052': { vr: 'CS', Value: [l] } });
const empty = (vr: string) => ({ vr });
const text = (vr: string, ...Value: string[]) => ({ vr, Value });

function refusal(fn: () => unknown): FindRefusal {
  try {
    fn();
  } catch (e) {
    if (e instanceof FindRefusal) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('readIdentifier', () => {
  it('reads the whole stream', async () => {
    const data = Readable.from([Buffer.from('ab'), Buffer.from('cd')]);
    expect((await readIdentifier(data, 10))?.toString()).toBe('abcd');
  });

  it('gives up past the bound, and keeps draining the stream', async () => {
    const data = Readable.from([Buffer.alloc(6), Buffer.alloc(6), Buffer.alloc(6)]);
    expect(await readIdentifier(data, 10)).toBeNull();
    await finished(data);
    expect(data.readableEnded).toBe(true);
  });
});

describe('parseFindIdentifier', () => {
  const dataset: DicomJsonDataset = {
    '00080005': text('CS', 'ISO_IR 192'),
    '00080020': text('DA', '20240101-20240131'),
    ...level('STUDY'),
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller^H*' }] },
    '00100020': empty('LO'),
    '0020000D': text('UI', STUDY, SERIES),
    '00201208': empty('IS'),
  };

  it.each([
    ['implicit VR little endian', IMPLICIT],
    ['explicit VR little endian', EXPLICIT],
    ['explicit VR big endian', BIG_ENDIAN],
    ['deflated explicit VR little endian', DEFLATED],
  ])('turns every element into a matching or return key (%s)', (_name, ts) => {
    const q = parseFindIdentifier(encodeDataSet(dataset, ts), ts, 'study-root');
    expect(q.level).toBe('study');
    expect(q.levelName).toBe('STUDY');
    expect(q.specificCharacterSet).toBe('ISO_IR 192');
    expect(q.keys).toEqual([
      { key: 'StudyDate', tag: '00080020', value: '20240101-20240131' },
      { key: 'PatientName', tag: '00100010', value: 'Müller^H*' },
      { key: 'PatientID', tag: '00100020', value: '' },
      { key: 'StudyInstanceUID', tag: '0020000D', value: `${STUDY}\\${SERIES}` },
      { key: 'NumberOfStudyRelatedInstances', tag: '00201208', value: '' },
    ]);
    expect(q.responseKeys).toEqual([
      { tag: '00080020', vr: 'DA' },
      { tag: '00100010', vr: 'PN' },
      { tag: '00100020', vr: 'LO' },
      { tag: '0020000D', vr: 'UI' },
      { tag: '00201208', vr: 'IS' },
    ]);
    expect(q.unsupported).toEqual([]);
    expect(pendingStatus(q)).toBe(0xff00);
    expect(q.keyNames).toEqual([
      'StudyDate',
      'PatientName',
      'PatientID',
      'StudyInstanceUID',
      'NumberOfStudyRelatedInstances',
    ]);
  });

  it('decodes values with the Specific Character Set of the identifier', () => {
    const latin1 = {
      '00080005': text('CS', 'ISO_IR 100'),
      ...level('PATIENT'),
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller*' }] },
    };
    // dcmjs writes UTF-8 whatever the declared set: rewrite the name's bytes as Latin-1.
    const bytes = encodeDataSet(latin1, EXPLICIT);
    const utf8 = Buffer.from('Müller*', 'utf8');
    const at = bytes.indexOf(utf8);
    const asLatin1 = Buffer.concat([
      bytes.subarray(0, at),
      Buffer.from('Müller* ', 'latin1'),
      bytes.subarray(at + utf8.length),
    ]);
    const q = parseFindIdentifier(asLatin1, EXPLICIT, 'patient-root');
    expect(q.keys).toEqual([{ key: 'PatientName', tag: '00100010', value: 'Müller*' }]);
    expect(q.specificCharacterSet).toBe('ISO_IR 100');
  });

  it('refuses what is not a data set, and transfer syntaxes it cannot read', () => {
    const bytes = encodeDataSet(dataset, EXPLICIT);
    const bad = refusal(() => parseFindIdentifier(bytes.subarray(0, 21), EXPLICIT, 'study-root'));
    expect(bad).toMatchObject({
      status: 0xc000,
      message: 'the identifier is not a valid data set',
    });
    expect(
      refusal(() => parseFindIdentifier(bytes, '1.2.840.113619.5.2', 'study-root')),
    ).toMatchObject({ status: 0xc000, message: 'transfer syntax not supported' });
  });
});

describe('findQueryOf: levels and unique keys', () => {
  it('knows the two models', () => {
    expect(findModelOf('1.2.840.10008.5.1.4.1.2.1.1')).toBe('patient-root');
    expect(findModelOf('1.2.840.10008.5.1.4.1.2.2.1')).toBe('study-root');
    expect(findModelOf('1.2.840.10008.5.1.4.1.2.2.2')).toBeNull();
  });

  it('maps the levels (IMAGE is the catalog’s instance level)', () => {
    const ids = { '00100020': text('LO', 'P1'), '0020000D': text('UI', STUDY) };
    const image = { ...ids, '0020000E': text('UI', SERIES) };
    expect(findQueryOf({ ...level('PATIENT') }, 'patient-root').level).toBe('patient');
    expect(findQueryOf({ ...level('STUDY'), ...ids }, 'patient-root').level).toBe('study');
    expect(findQueryOf({ ...level('SERIES'), ...ids }, 'patient-root').level).toBe('series');
    expect(findQueryOf({ ...level('IMAGE'), ...image }, 'study-root')).toMatchObject({
      level: 'instance',
      studyInstanceUid: STUDY,
    });
  });

  it('refuses a missing or unknown level, and PATIENT in the Study Root model', () => {
    expect(refusal(() => findQueryOf({}, 'study-root'))).toMatchObject({
      status: 0xa900,
      message: 'QueryRetrieveLevel is missing',
      offendingTag: '00080052',
    });
    expect(refusal(() => findQueryOf(level('FRAME'), 'patient-root')).status).toBe(0xa900);
    expect(refusal(() => findQueryOf(level('PATIENT'), 'study-root')).message).toBe(
      'the Study Root model has no PATIENT level',
    );
  });

  it('needs single values for the unique keys of the levels above', () => {
    const cases: Array<[DicomJsonDataset, 'patient-root' | 'study-root', string, string]> = [
      [level('SERIES'), 'study-root', '0020000D', 'SERIES level needs a single StudyInstanceUID'],
      [
        { ...level('SERIES'), '0020000D': text('UI', STUDY, SERIES) },
        'study-root',
        '0020000D',
        'SERIES level needs a single StudyInstanceUID',
      ],
      [
        { ...level('IMAGE'), '0020000D': text('UI', STUDY), '0020000E': text('UI', '1.2.*') },
        'study-root',
        '0020000E',
        'IMAGE level needs a single SeriesInstanceUID',
      ],
      [level('STUDY'), 'patient-root', '00100020', 'STUDY level needs a single PatientID'],
      [
        { ...level('STUDY'), '00100020': text('LO', 'P*') },
        'patient-root',
        '00100020',
        'STUDY level needs a single PatientID',
      ],
      [
        { ...level('SERIES'), '00100020': text('LO', 'P1'), '0020000D': text('UI', 'x.y') },
        'patient-root',
        '0020000D',
        'SERIES level needs a single StudyInstanceUID',
      ],
    ];
    for (const [ds, model, tag, message] of cases) {
      expect(refusal(() => findQueryOf(ds, model))).toMatchObject({
        status: 0xa900,
        offendingTag: tag,
        message,
      });
    }
  });
});

describe('FindRefusal', () => {
  it('keeps its comment within the 64 characters of an Error Comment', () => {
    const long = new FindRefusal(0xa900, `AcquisitionDateTime ${'x'.repeat(80)}`);
    expect(long.message).toHaveLength(64);
    expect(long.message.endsWith('...')).toBe(true);
    expect(new FindRefusal(0xa900, 'short').message).toBe('short');
  });
});

describe('findQueryOf: optional keys', () => {
  it('leaves out unsupported keys (sequences, lower levels, private) and warns with 0xFF01', () => {
    const q = findQueryOf(
      {
        ...level('STUDY'),
        '00080060': text('CS', 'CT'), // Modality: a series attribute
        '00081110': { vr: 'SQ', Value: [{}] }, // ReferencedStudySequence
        '00091010': empty('LO'),
        '0020000D': empty('UI'),
      },
      'study-root',
    );
    expect(q.unsupported).toEqual(['00080060', '00081110', '00091010']);
    expect(q.responseKeys.map((k) => k.tag)).toEqual(['0020000D']);
    expect(q.keys.map((k) => k.tag)).toEqual(['0020000D']);
    expect(pendingStatus(q)).toBe(0xff01);
    expect(q.keyNames).toEqual(['Modality', '00081110', '00091010', 'StudyInstanceUID']);
  });

  it('a value on a key supported for existence only is not matched, and warns', () => {
    const q = findQueryOf(
      { ...level('STUDY'), '00101010': text('AS', '042Y'), '00201206': text('IS', '3') },
      'study-root',
    );
    expect(q.keys).toEqual([
      { key: 'PatientAge', tag: '00101010', value: '' },
      { key: 'NumberOfStudyRelatedSeries', tag: '00201206', value: '' },
    ]);
    expect(q.notMatched).toEqual(['00101010', '00201206']);
    expect(pendingStatus(q)).toBe(0xff01);
  });

  it('a lone * is universal for any VR; ideographic name groups are not matched', () => {
    const q = findQueryOf(
      {
        ...level('STUDY'),
        '00080020': text('DA', '*'),
        '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎' }] },
        '0020000D': text('UI', '*'),
      },
      'study-root',
    );
    expect(q.keys.map((k) => k.value)).toEqual(['', 'Yamada^Tarou', '']);
    expect(q.notMatched).toEqual(['00100010']);
  });

  it('Retrieve AE Title and the character set are not keys; group lengths are skipped', () => {
    const q = findQueryOf(
      {
        '00080000': { vr: 'UL', Value: [40] },
        '00080005': text('CS', 'ISO_IR 100'),
        ...level('PATIENT'),
        '00080054': text('AE', 'OTHER'),
        '00100010': empty('PN'),
      },
      'patient-root',
    );
    expect(q.keys.map((k) => k.tag)).toEqual(['00100010']);
    expect(q.keyNames).toEqual(['00080054', 'PatientName']);
    expect(q.specificCharacterSet).toBe('ISO_IR 100');
    expect(pendingStatus(q)).toBe(0xff00);
  });
});
