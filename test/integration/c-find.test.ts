import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDataSet, type DicomJsonDataset } from '../../src/dicom/index.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { hasTool, runTool } from '../support/interop.js';
import { DOE_JOHN, makeQueryFixtures, MUELLER_HANS } from '../support/query-fixtures.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

/**
 * The C-FIND SCP against dcmtk's findscu, over the real app's DICOM port: fixtures go in through
 * STOW-RS (the QIDO-RS test's patients, plus a second study of one of them and expired studies),
 * every level of both information models is queried, and the responses findscu extracts (-X) are
 * read back and checked value by value.
 */
const haveFindscu = hasTool('findscu');

let strata: TestStrata;
let work: string;

// The QIDO-RS test's four patients (test/support/query-fixtures.ts), and three more studies.
const { S1, S2, S3, S4, S1_CT1, S1_CT2, S1_SOP, instances } = makeQueryFixtures();
const S5 = newUid(); // Müller^Hans again, P-MUE, 2024-02-10, MR: a second study of the patient
const S6 = newUid(); // Doe^John, P-DOE, expired: hidden
const S7 = newUid(); // Gone^Ghost, P-GONE, expired: a patient with no visible study

interface FindResult {
  code: number | null;
  responses: DicomJsonDataset[];
  log: string;
}

/** Runs findscu with -X and reads the pending responses it extracted, in order. */
async function findscu(
  model: 'patient' | 'study',
  keys: string[],
  extra: string[] = [],
): Promise<FindResult> {
  const dir = mkdtempSync(join(work, 'rsp-'));
  const args = [
    model === 'patient' ? '-P' : '-S',
    '-v',
    '-aet',
    'CFIND-TEST',
    '-aec',
    strata.config.dicom.aeTitle,
    '-X',
    '-od',
    dir,
    ...keys.flatMap((k) => ['-k', k]),
    ...extra,
    '127.0.0.1',
    String(strata.dicomPort),
  ];
  const run = await runTool('findscu', args, 60_000);
  const files = readdirSync(dir)
    .filter((f) => /^rsp\d+\.dcm$/.test(f))
    .sort();
  const responses = files.map((f) => readPart10(readFileSync(join(dir, f))));
  rmSync(dir, { recursive: true, force: true });
  return { code: run.code, responses, log: `${run.stdout}\n${run.stderr}` };
}

/** The data set of a Part 10 file, decoded in the transfer syntax its meta header names. */
function readPart10(file: Buffer): DicomJsonDataset {
  expect(file.toString('latin1', 128, 132)).toBe('DICM');
  const metaLength = file.readUInt32LE(132 + 8);
  const metaEnd = 132 + 12 + metaLength;
  const meta = decodeDataSet(file.subarray(132, metaEnd), '1.2.840.10008.1.2.1');
  return decodeDataSet(file.subarray(metaEnd), String(meta['00020010']!.Value![0]));
}

const value = (ds: DicomJsonDataset, tag: string): unknown => ds[tag]?.Value?.[0];
const values = (results: DicomJsonDataset[], tag: string) => results.map((r) => value(r, tag));
const name = (ds: DicomJsonDataset): unknown =>
  (value(ds, '00100010') as { Alphabetic?: string } | undefined)?.Alphabetic;

/** The final status line findscu logs with -v. */
function finalStatus(log: string): string {
  const m = /Received Final Find Response \(([^)]*)\)/.exec(log);
  return m ? m[1]! : log;
}

describe.skipIf(!haveFindscu)('C-FIND SCP with dcmtk findscu', () => {
  beforeAll(async () => {
    strata = await startTestStrata();
    work = mkdtempSync(join(tmpdir(), 'strata-cfind-'));
    const more = [
      makeInstance({
        ...MUELLER_HANS,
        studyDate: '20240210',
        studyTime: '100000',
        accession: 'ACC-5',
        modality: 'MR',
        studyInstanceUid: S5,
      }),
      makeInstance({ ...DOE_JOHN, studyInstanceUid: S6 }),
      makeInstance({ patientName: 'Gone^Ghost', patientId: 'P-GONE', studyInstanceUid: S7 }),
    ];
    const stored = await stow(
      strata.httpUrl,
      strata.auth,
      [...instances, ...more].map((i) => i.part10),
    );
    expect(stored.status, stored.text).toBe(200);
    const db = new pg.Client({ connectionString: strata.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `UPDATE studies SET expired_at = now(), expired_by = 'test' WHERE study_instance_uid = ANY($1)`,
        [[S6, S7]],
      );
    } finally {
      await db.end();
    }
  });

  afterAll(async () => {
    await strata?.stop();
    if (strata) removeDataDir(strata.dataDir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('Study Root', () => {
    it('STUDY level: matching on patient ID, one response per study with the keys asked', async () => {
      const r = await findscu('study', [
        'QueryRetrieveLevel=STUDY',
        'PatientID=P-MUE',
        'PatientName',
        'StudyInstanceUID',
        'StudyDate',
        'ModalitiesInStudy',
        'NumberOfStudyRelatedSeries',
        'NumberOfStudyRelatedInstances',
      ]);
      expect(finalStatus(r.log)).toBe('Success');
      expect(r.code).toBe(0);
      expect(values(r.responses, '0020000D')).toEqual([S1, S5]);
      const s1 = r.responses[0]!;
      expect(Object.keys(s1)).toEqual([
        '00080005',
        '00080020',
        '00080052',
        '00080054',
        '00080061',
        '00100010',
        '00100020',
        '0020000D',
        '00201206',
        '00201208',
      ]);
      expect(s1).toMatchObject({
        '00080005': { Value: ['ISO_IR 192'] },
        '00080020': { Value: ['20240105'] },
        '00080052': { Value: ['STUDY'] },
        '00080054': { Value: [strata.config.dicom.aeTitle] },
        '00080061': { Value: ['CT'] },
        '00100010': { Value: [{ Alphabetic: 'Müller^Hans' }] },
        '00201206': { Value: [2] },
        '00201208': { Value: [3] },
      });
    });

    it('wildcards, ranges, case-insensitive names and non-ASCII keys (ISO_IR 192)', async () => {
      const byName = await findscu('study', [
        'SpecificCharacterSet=ISO_IR 192',
        'QueryRetrieveLevel=STUDY',
        'PatientName=müller*',
        'StudyInstanceUID',
      ]);
      expect(values(byName.responses, '0020000D')).toEqual([S1, S2, S5]);
      expect(byName.responses.map(name)).toEqual(['Müller^Hans', 'Müller^Anna', 'Müller^Hans']);
      expect(values(byName.responses, '00080005')).toEqual([
        'ISO_IR 192',
        'ISO_IR 192',
        'ISO_IR 192',
      ]);

      const range = await findscu('study', [
        'QueryRetrieveLevel=STUDY',
        'StudyDate=20240101-20240131',
        'StudyTime=0800-1500',
        'AccessionNumber=ACC?2',
        'StudyInstanceUID',
      ]);
      expect(values(range.responses, '0020000D')).toEqual([S2]);
    });

    it('answers in the default repertoire when every value is ASCII', async () => {
      const r = await findscu('study', [
        'QueryRetrieveLevel=STUDY',
        'PatientName=DOE*',
        'StudyInstanceUID',
      ]);
      expect(r.responses.map(name)).toEqual(['Doe^John', 'doe^jane']);
      expect(r.responses[0]!['00080005']).toBeUndefined();
    });

    it('expired studies are never answered', async () => {
      const r = await findscu('study', [
        'QueryRetrieveLevel=STUDY',
        `StudyInstanceUID=${S3}\\${S6}\\${S7}`,
      ]);
      expect(values(r.responses, '0020000D')).toEqual([S3]);
    });

    it('SERIES level within a study, IMAGE level within a series', async () => {
      const series = await findscu('study', [
        'QueryRetrieveLevel=SERIES',
        `StudyInstanceUID=${S1}`,
        'SeriesInstanceUID',
        'Modality',
        'SeriesNumber',
        'NumberOfSeriesRelatedInstances',
      ]);
      expect(finalStatus(series.log)).toBe('Success');
      expect(values(series.responses, '0020000E')).toEqual([S1_CT1, S1_CT2]);
      expect(values(series.responses, '00201209')).toEqual([2, 1]);
      expect(values(series.responses, '00080060')).toEqual(['CT', 'CT']);
      expect(values(series.responses, '00080052')).toEqual(['SERIES', 'SERIES']);

      const images = await findscu('study', [
        'QueryRetrieveLevel=IMAGE',
        `StudyInstanceUID=${S1}`,
        `SeriesInstanceUID=${S1_CT1}`,
        'SOPInstanceUID',
        'SOPClassUID',
        'InstanceNumber',
        'Rows',
      ]);
      expect(values(images.responses, '00080018')).toEqual([S1_SOP[0], S1_SOP[1]]);
      expect(values(images.responses, '00200013')).toEqual([1, 2]);
      expect(values(images.responses, '00280010')).toEqual([16, 16]);
      expect(values(images.responses, '00080016')).toEqual([
        '1.2.840.10008.5.1.4.1.1.2',
        '1.2.840.10008.5.1.4.1.1.2',
      ]);
      const one = await findscu('study', [
        'QueryRetrieveLevel=IMAGE',
        `StudyInstanceUID=${S1}`,
        `SeriesInstanceUID=${S1_CT1}`,
        'InstanceNumber=2',
        'SOPInstanceUID',
      ]);
      expect(values(one.responses, '00080018')).toEqual([S1_SOP[1]]);
    });

    it('SERIES level without a study UID is refused with 0xA900', async () => {
      const r = await findscu('study', ['QueryRetrieveLevel=SERIES', 'SeriesInstanceUID']);
      expect(r.responses).toEqual([]);
      expect(r.log).toMatch(/DataSetDoesNotMatchSOPClass/);
    });

    it('an unsupported key is left out and the matches come with 0xFF01', async () => {
      const r = await findscu('study', [
        'QueryRetrieveLevel=STUDY',
        `StudyInstanceUID=${S4}`,
        'Modality', // a series attribute, not a study one
      ]);
      expect(values(r.responses, '0020000D')).toEqual([S4]);
      expect(r.responses[0]!['00080060']).toBeUndefined();
      expect(r.log).toMatch(/0xff01|Pending.*Warning|Optional Keys/i);
    });

    it('implicit VR little endian, explicit big endian and deflate give the same answers', async () => {
      const keys = [
        'QueryRetrieveLevel=STUDY',
        'PatientID=P-ANN',
        'PatientName',
        'StudyInstanceUID',
      ];
      for (const ts of ['-xi', '-xb', '-xd']) {
        const r = await findscu('study', keys, [ts]);
        expect(finalStatus(r.log), ts).toBe('Success');
        expect(values(r.responses, '0020000D'), ts).toEqual([S2]);
        expect(r.responses.map(name), ts).toEqual(['Müller^Anna']);
      }
    });

    it('a C-CANCEL ends the query (Cancel, or Success when every match had left)', async () => {
      // With five matches the answer is usually complete before the C-CANCEL-RQ arrives: this
      // checks the association goes on cleanly; the unit tests check the 0xFE00 itself.
      const r = await findscu(
        'study',
        ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID'],
        ['--cancel', '1'],
      );
      expect(r.log).toContain('Sending Cancel Request');
      expect(finalStatus(r.log)).toMatch(/^(Success|Cancel)/);
      expect(r.log).toContain('Releasing Association');
      expect(r.code).toBe(0);
    });
  });

  describe('Patient Root', () => {
    it('PATIENT level: one response per patient, with its related counts', async () => {
      const r = await findscu('patient', [
        'QueryRetrieveLevel=PATIENT',
        'PatientName=M*',
        'PatientID',
        'PatientBirthDate',
        'PatientSex',
        'NumberOfPatientRelatedStudies',
        'NumberOfPatientRelatedSeries',
        'NumberOfPatientRelatedInstances',
      ]);
      expect(finalStatus(r.log)).toBe('Success');
      expect(values(r.responses, '00100020')).toEqual(['P-MUE', 'P-ANN']);
      const [hans, anna] = r.responses;
      expect(hans).toMatchObject({
        '00080052': { Value: ['PATIENT'] },
        '00100010': { Value: [{ Alphabetic: 'Müller^Hans' }] },
        '00100030': { Value: ['19600101'] },
        '00100040': { Value: ['M'] },
        '00201200': { Value: [2] },
        '00201202': { Value: [3] },
        '00201204': { Value: [4] },
      });
      expect(anna).toMatchObject({ '00201200': { Value: [1] }, '00201204': { Value: [2] } });
    });

    it('PATIENT level hides expired studies: from the counts, and patients left without any', async () => {
      const doe = await findscu('patient', [
        'QueryRetrieveLevel=PATIENT',
        'PatientID=P-DOE',
        'NumberOfPatientRelatedStudies',
      ]);
      expect(values(doe.responses, '00201200')).toEqual([1]);
      const gone = await findscu('patient', ['QueryRetrieveLevel=PATIENT', 'PatientID=P-GONE']);
      expect(gone.responses).toEqual([]);
      expect(finalStatus(gone.log)).toBe('Success');
    });

    it('STUDY, SERIES and IMAGE levels under a patient', async () => {
      const studies = await findscu('patient', [
        'QueryRetrieveLevel=STUDY',
        'PatientID=P-MUE',
        'StudyInstanceUID',
        'StudyDescription',
      ]);
      expect(values(studies.responses, '0020000D')).toEqual([S1, S5]);
      expect(values(studies.responses, '00081030')).toEqual(['CT Thorax', 'Synthetic study']);

      const series = await findscu('patient', [
        'QueryRetrieveLevel=SERIES',
        'PatientID=P-MUE',
        `StudyInstanceUID=${S1}`,
        'SeriesInstanceUID',
      ]);
      expect(values(series.responses, '0020000E')).toEqual([S1_CT1, S1_CT2]);

      const images = await findscu('patient', [
        'QueryRetrieveLevel=IMAGE',
        'PatientID=P-MUE',
        `StudyInstanceUID=${S1}`,
        `SeriesInstanceUID=${S1_CT2}`,
        'SOPInstanceUID',
      ]);
      expect(values(images.responses, '00080018')).toEqual([S1_SOP[2]]);
    });

    it('STUDY level without a patient ID is refused', async () => {
      const r = await findscu('patient', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID']);
      expect(r.responses).toEqual([]);
      expect(r.log).toMatch(/DataSetDoesNotMatchSOPClass/);
    });
  });

  it('audits each C-FIND as study.queried, without values', async () => {
    await findscu('study', ['QueryRetrieveLevel=STUDY', 'PatientName=zzaudit*', 'StudyDate']);
    const res = await fetch(`${strata.httpUrl}/api/audit?action=study.queried&limit=1000`, {
      headers: { authorization: strata.auth },
    });
    const { events } = (await res.json()) as {
      events: Array<{
        actor: string;
        actorHost: string;
        outcome: string;
        detail: Record<string, unknown>;
      }>;
    };
    const mine = events.filter((e) => e.detail.protocol === 'DIMSE C-FIND');
    const last = mine.at(-1)!;
    expect(last).toMatchObject({ actor: 'CFIND-TEST', actorHost: '127.0.0.1', outcome: 'success' });
    expect(last.detail).toMatchObject({
      model: 'study-root',
      level: 'study',
      keys: ['StudyDate', 'PatientName'],
      results: 0,
    });
    expect(JSON.stringify(events)).not.toContain('zzaudit');
  });
});
