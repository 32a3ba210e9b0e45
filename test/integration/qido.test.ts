import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeQueryFixtures } from '../support/query-fixtures.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

/**
 * QIDO-RS against the real app: fixtures go in through STOW-RS, every matching rule is checked
 * to return exactly the expected studies, series or instances.
 */
let strata: TestStrata;

// Four patients, four studies: see test/support/query-fixtures.ts.
const { S1, S2, S3, S4, S1_CT1, S1_CT2, S2_MR, S2_CT, S1_SOP, instances } = makeQueryFixtures();

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${strata.httpUrl}${path}`, { headers: { authorization: strata.auth, ...headers } });
}

async function search(path: string): Promise<Json[]> {
  const res = await get(path);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
  return JSON.parse(text) as Json[];
}

const value = (item: Json, tag: string): unknown => item[tag]?.Value?.[0];
const studyUids = (items: Json[]) => items.map((i) => value(i, '0020000D'));

beforeAll(async () => {
  strata = await startTestStrata();
  const stored = await stow(
    strata.httpUrl,
    strata.auth,
    instances.map((i) => i.part10),
  );
  expect(stored.status, stored.text).toBe(200);
});

afterAll(async () => {
  await strata?.stop();
  if (strata) removeDataDir(strata.dataDir);
});

describe('QIDO-RS studies', () => {
  it('returns every study, ordered by date and time, with the PS3.18 attributes', async () => {
    const all = await search('/dicomweb/studies');
    expect(studyUids(all)).toEqual([S3, S1, S2, S4]);
    const s1 = all[1]!;
    expect(s1['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Müller^Hans' }] });
    expect(value(s1, '00100020')).toBe('P-MUE');
    expect(value(s1, '00100030')).toBe('19600101');
    expect(value(s1, '00100040')).toBe('M');
    expect(value(s1, '00080020')).toBe('20240105');
    expect(value(s1, '00080030')).toBe('083000');
    expect(value(s1, '00080050')).toBe('ACC-1');
    expect(s1['00080061']).toEqual({ vr: 'CS', Value: ['CT'] });
    expect(s1['00201206']).toEqual({ vr: 'IS', Value: [2] });
    expect(s1['00201208']).toEqual({ vr: 'IS', Value: [3] });
    expect(s1['00080005']).toEqual({ vr: 'CS', Value: ['ISO_IR 192'] });
    expect(value(s1, '00081190')).toBe(`${strata.httpUrl}/dicomweb/studies/${S1}`);
    expect(all[2]!['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Müller^Anna' }] });
    expect(new Set(all[2]!['00080061']!.Value)).toEqual(new Set(['MR', 'CT']));
    // Not asked for: not returned.
    expect(s1['00081030']).toBeUndefined();
  });

  it('PN matching is case-insensitive, with wildcards, for UTF-8 and Latin-1 names alike', async () => {
    expect(studyUids(await search('/dicomweb/studies?PatientName=m%C3%BCller*'))).toEqual([S1, S2]);
    expect(studyUids(await search('/dicomweb/studies?PatientName=M%C3%9CLLER%5EHANS'))).toEqual([
      S1,
    ]);
    expect(studyUids(await search('/dicomweb/studies?PatientName=doe*'))).toEqual([S3, S4]);
    expect(studyUids(await search('/dicomweb/studies?PatientName=DOE%5EJ?NE'))).toEqual([S4]);
    expect(studyUids(await search('/dicomweb/studies?PatientName=Doe'))).toEqual([]);
  });

  it('single value matching is exact for other strings', async () => {
    expect(studyUids(await search('/dicomweb/studies?PatientID=P-DOE'))).toEqual([S3]);
    expect(studyUids(await search('/dicomweb/studies?PatientID=p-doe'))).toEqual([]);
    expect(studyUids(await search('/dicomweb/studies?00100020=P-DOE2'))).toEqual([S4]);
  });

  it('wildcards escape % and _ of the value', async () => {
    expect(studyUids(await search('/dicomweb/studies?AccessionNumber=ACC_2'))).toEqual([S2]);
    expect(studyUids(await search('/dicomweb/studies?AccessionNumber=ACC?2'))).toEqual([S3, S2]);
    expect(studyUids(await search('/dicomweb/studies?AccessionNumber=ACC%25'))).toEqual([]);
    expect(studyUids(await search('/dicomweb/studies?StudyDescription=*100%25'))).toEqual([S2]);
    expect(studyUids(await search('/dicomweb/studies?AccessionNumber=*'))).toEqual([
      S3,
      S1,
      S2,
      S4,
    ]);
  });

  it('DA range matching: closed, open, single', async () => {
    expect(studyUids(await search('/dicomweb/studies?StudyDate=20240101-20240131'))).toEqual([
      S1,
      S2,
    ]);
    expect(studyUids(await search('/dicomweb/studies?StudyDate=-20240105'))).toEqual([S3, S1]);
    expect(studyUids(await search('/dicomweb/studies?StudyDate=20240120-'))).toEqual([S2, S4]);
    expect(studyUids(await search('/dicomweb/studies?StudyDate=20240301'))).toEqual([S4]);
    expect(studyUids(await search('/dicomweb/studies?PatientBirthDate=19700101-'))).toEqual([
      S3,
      S2,
      S4,
    ]);
  });

  it('TM range matching, including a range across midnight', async () => {
    expect(studyUids(await search('/dicomweb/studies?StudyTime=0800-1500'))).toEqual([S1, S2]);
    expect(studyUids(await search('/dicomweb/studies?StudyTime=2300-0730'))).toEqual([S3, S4]);
    expect(studyUids(await search('/dicomweb/studies?StudyTime=14'))).toEqual([S2]);
    expect(
      studyUids(await search('/dicomweb/studies?StudyDate=20240101-&StudyTime=-0830')),
    ).toEqual([S1, S4]);
  });

  it('ModalitiesInStudy matches any modality of the study', async () => {
    expect(studyUids(await search('/dicomweb/studies?ModalitiesInStudy=CT'))).toEqual([S1, S2, S4]);
    expect(studyUids(await search('/dicomweb/studies?ModalitiesInStudy=MR'))).toEqual([S2]);
    expect(studyUids(await search('/dicomweb/studies?ModalitiesInStudy=MR%5CDX'))).toEqual([
      S3,
      S2,
    ]);
    expect(studyUids(await search('/dicomweb/studies?ModalitiesInStudy=D*'))).toEqual([S3]);
  });

  it('UID list matching: backslashes, commas and repeated parameters', async () => {
    expect(studyUids(await search(`/dicomweb/studies?StudyInstanceUID=${S4},${S3}`))).toEqual([
      S3,
      S4,
    ]);
    expect(
      studyUids(await search(`/dicomweb/studies?StudyInstanceUID=${S4}&StudyInstanceUID=${S1}`)),
    ).toEqual([S1, S4]);
    expect(studyUids(await search(`/dicomweb/studies?StudyInstanceUID=${S2}%5C${S1}`))).toEqual([
      S1,
      S2,
    ]);
  });

  it('limit and offset page through the stable order', async () => {
    expect(studyUids(await search('/dicomweb/studies?limit=2'))).toEqual([S3, S1]);
    expect(studyUids(await search('/dicomweb/studies?limit=2&offset=2'))).toEqual([S2, S4]);
    expect(studyUids(await search('/dicomweb/studies?offset=4'))).toEqual([]);
    const res = await get('/dicomweb/studies?limit=5000');
    expect(res.status).toBe(200);
    expect(res.headers.get('warning')).toMatch(/^299 \S+ "limit reduced to 1000/);
  });

  it('includefield: catalog columns, stored metadata, all', async () => {
    const [s1] = await search(
      `/dicomweb/studies?StudyInstanceUID=${S1}&includefield=StudyDescription,00280004&includefield=Manufacturer`,
    );
    expect(value(s1!, '00081030')).toBe('CT Thorax');
    expect(value(s1!, '00280004')).toBe('MONOCHROME2');
    expect(s1!['00080070']).toEqual({ vr: 'LO' });
    const [withEmptyKey] = await search(
      `/dicomweb/studies?StudyInstanceUID=${S2}&StudyDescription=`,
    );
    expect(value(withEmptyKey!, '00081030')).toBe('MR Knee 100%');
    const [inst] = await search(
      `/dicomweb/studies/${S1}/series/${S1_CT1}/instances?InstanceNumber=1&includefield=all`,
    );
    expect(value(inst!, '00280101')).toBe(16); // BitsStored, only in the stored metadata
    expect(value(inst!, '00081030')).toBe('CT Thorax');
  });

  it('fuzzymatching=true is accepted and answered with a Warning', async () => {
    const res = await get('/dicomweb/studies?PatientName=doe*&fuzzymatching=true');
    expect(res.status).toBe(200);
    expect(res.headers.get('warning')).toMatch(/^299 \S+ "fuzzymatching not supported"$/);
    expect(studyUids((await res.json()) as Json[])).toEqual([S3, S4]);
  });
});

describe('QIDO-RS series and instances', () => {
  it('series of a study, with their attributes', async () => {
    const series = await search(`/dicomweb/studies/${S1}/series`);
    expect(series.map((s) => value(s, '0020000E'))).toEqual([S1_CT1, S1_CT2]);
    expect(series[0]!['00201209']).toEqual({ vr: 'IS', Value: [2] });
    expect(series[0]!['00200011']).toEqual({ vr: 'IS', Value: [1] });
    expect(value(series[0]!, '00080060')).toBe('CT');
    expect(value(series[0]!, '00081190')).toBe(
      `${strata.httpUrl}/dicomweb/studies/${S1}/series/${S1_CT1}`,
    );
    // Scoped to a study: no study attributes unless asked.
    expect(series[0]!['00100010']).toBeUndefined();
  });

  it('series across studies carry the study attributes and match on them', async () => {
    const ct = await search('/dicomweb/series?Modality=CT&PatientName=m%C3%BCller*');
    expect(ct.map((s) => value(s, '0020000E'))).toEqual([S1_CT1, S1_CT2, S2_CT]);
    expect(ct[2]!['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Müller^Anna' }] });
    expect(value(ct[2]!, '0020000D')).toBe(S2);
    expect((await search('/dicomweb/series?Modality=MR')).map((s) => value(s, '0020000E'))).toEqual(
      [S2_MR],
    );
    expect(
      (await search(`/dicomweb/series?SeriesInstanceUID=${S2_MR},${S1_CT2}`)).map((s) =>
        value(s, '0020000E'),
      ),
    ).toEqual([S1_CT2, S2_MR]);
  });

  it('instances of a study, a series, and across the archive', async () => {
    const inStudy = await search(`/dicomweb/studies/${S1}/instances`);
    expect(inStudy.map((i) => value(i, '00080018'))).toEqual(S1_SOP);
    const i0 = inStudy[0]!;
    expect(value(i0, '00080016')).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(value(i0, '00083002')).toBe('1.2.840.10008.1.2.1');
    expect(i0['00280010']).toEqual({ vr: 'US', Value: [16] });
    expect(i0['00280100']).toEqual({ vr: 'US', Value: [16] });
    expect(value(i0, '00081190')).toBe(
      `${strata.httpUrl}/dicomweb/studies/${S1}/series/${S1_CT1}/instances/${S1_SOP[0]}`,
    );
    const inSeries = await search(
      `/dicomweb/studies/${S1}/series/${S1_CT1}/instances?InstanceNumber=2`,
    );
    expect(inSeries.map((i) => value(i, '00080018'))).toEqual([S1_SOP[1]]);
    const jpeg = await search(
      '/dicomweb/instances?AvailableTransferSyntaxUID=1.2.840.10008.1.2.4.50',
    );
    expect(jpeg.map((i) => value(i, '0020000D'))).toEqual([S3]);
    expect(
      (await search(`/dicomweb/instances?SOPInstanceUID=${S1_SOP[2]}`)).map((i) =>
        value(i, '0020000E'),
      ),
    ).toEqual([S1_CT2]);
  });
});

describe('QIDO-RS errors', () => {
  async function problem(path: string, status: number, headers: Record<string, string> = {}) {
    const res = await get(path, headers);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await res.json()) as { detail: string; key?: string };
  }

  it('an unknown key is a 400 naming it', async () => {
    const p = await problem('/dicomweb/studies?PatientShoeSize=42', 400);
    expect(p.detail).toContain('PatientShoeSize');
    expect(p.key).toBe('PatientShoeSize');
  });

  it('an invalid UID is a 400 that does not echo values', async () => {
    const p = await problem('/dicomweb/studies?StudyInstanceUID=1.2.03', 400);
    expect(p.detail).toBe('StudyInstanceUID contains an invalid UID');
    await problem('/dicomweb/studies/not-a-uid/series', 400);
  });

  it('malformed values and paging parameters are 400s', async () => {
    await problem('/dicomweb/studies?StudyDate=2024-01-01', 400);
    await problem('/dicomweb/studies?limit=0', 400);
    await problem('/dicomweb/studies?offset=-3', 400);
    await problem('/dicomweb/studies?Modality=CT', 400);
    await problem('/dicomweb/studies?includefield=NoSuchAttribute', 400);
  });

  it('an unsupported Accept is a 406', async () => {
    await problem('/dicomweb/studies', 406, { accept: 'application/dicom+xml' });
  });

  it('needs a bearer token', async () => {
    const res = await fetch(`${strata.httpUrl}/dicomweb/studies`);
    expect(res.status).toBe(401);
  });
});

describe('QIDO-RS audit', () => {
  it('records one study.queried event per search, with keys and without values', async () => {
    await search('/dicomweb/studies?PatientName=zzaudit*&StudyDate=20240101-');
    const res = await get('/api/audit?action=study.queried&limit=1000');
    const { events } = (await res.json()) as {
      events: Array<{ actor: string; outcome: string; detail: Record<string, unknown> }>;
    };
    const mine = events.filter(
      (e) => JSON.stringify(e.detail).includes('PatientName') && e.detail.level === 'study',
    );
    const last = mine.at(-1)!;
    expect(last).toMatchObject({ actor: 'admin', outcome: 'success' });
    expect(last.detail).toMatchObject({
      protocol: 'QIDO-RS',
      level: 'study',
      keys: ['PatientName', 'StudyDate'],
      results: 0,
    });
    expect(JSON.stringify(events)).not.toContain('zzaudit');
  });
});
