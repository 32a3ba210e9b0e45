import { type DicomJsonDataset } from '../../../dicom/index.js';

/**
 * The study-level C-FIND keys a dimse-pull source may select studies by, with their VRs: the
 * Study Root required and common optional keys (PS3.4 C.6.2.1.2). Others are a config error.
 */
export const STUDY_QUERY_KEYS: Readonly<Record<string, { tag: string; vr: string }>> = {
  StudyDate: { tag: '00080020', vr: 'DA' },
  StudyTime: { tag: '00080030', vr: 'TM' },
  AccessionNumber: { tag: '00080050', vr: 'SH' },
  ModalitiesInStudy: { tag: '00080061', vr: 'CS' },
  ReferringPhysicianName: { tag: '00080090', vr: 'PN' },
  StudyDescription: { tag: '00081030', vr: 'LO' },
  PatientName: { tag: '00100010', vr: 'PN' },
  PatientID: { tag: '00100020', vr: 'LO' },
  StudyInstanceUID: { tag: '0020000D', vr: 'UI' },
  StudyID: { tag: '00200010', vr: 'SH' },
};

/** Return keys every study query asks for (empty: "send me the value"). */
const RETURN_KEYS: DicomJsonDataset = {
  '00080052': { vr: 'CS', Value: ['STUDY'] },
  '00080062': { vr: 'UI' }, // SOPClassesInStudy: what a C-GET must take
  '0020000D': { vr: 'UI' },
  '00201208': { vr: 'IS' }, // NumberOfStudyRelatedInstances: how a checkpoint knows it has all
};

/** Days in a StudyDate range split into one query per day: beyond this, one query for all. */
const MAX_SPLIT_DAYS = 36_600;

/**
 * The study-level identifiers of a source's selection: its query keys, once per accession
 * number if a list is given; a closed StudyDate range is asked day by day, because PACS cap how
 * many matches one C-FIND returns (Orthanc's LimitFindResults, dcm4chee's query max results).
 */
export function studyQueries(
  query: Record<string, string> | undefined,
  accessionNumbers: readonly string[] | undefined,
): DicomJsonDataset[] {
  const base: DicomJsonDataset = { ...RETURN_KEYS };
  for (const [keyword, value] of Object.entries(query ?? {})) {
    const key = STUDY_QUERY_KEYS[keyword]!;
    base[key.tag] =
      key.vr === 'PN'
        ? { vr: 'PN', Value: [{ Alphabetic: value }] }
        : { vr: key.vr, Value: [value] };
  }
  const byAccession =
    accessionNumbers && accessionNumbers.length > 0
      ? accessionNumbers.map((a) => ({ ...base, '00080050': { vr: 'SH', Value: [a] } }))
      : [base];
  const days = dayByDay(query?.StudyDate);
  if (days === null) return byAccession;
  return byAccession.flatMap((q) =>
    days.map((d) => ({ ...q, '00080020': { vr: 'DA', Value: [d] } })),
  );
}

/** The days of a closed range 'YYYYMMDD-YYYYMMDD', oldest first; null when not one to split. */
export function dayByDay(range: string | undefined): string[] | null {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{4})(\d{2})(\d{2})$/.exec(range?.trim() ?? '');
  if (!m) return null;
  const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const to = Date.UTC(Number(m[4]), Number(m[5]) - 1, Number(m[6]));
  const count = Math.round((to - from) / 86_400_000) + 1;
  if (!(count >= 1) || count > MAX_SPLIT_DAYS) return null;
  const days: string[] = [];
  for (let i = 0; i < count; i++) {
    days.push(new Date(from + i * 86_400_000).toISOString().slice(0, 10).replaceAll('-', ''));
  }
  return days;
}

/** What a study-level C-FIND match tells a pull. */
export interface StudyMatch {
  studyInstanceUid: string;
  /** NumberOfStudyRelatedInstances, when the PACS gave it. */
  instances: number | null;
  /** SOPClassesInStudy, when the PACS gave it. */
  sopClasses: string[];
}

/** The match's study, or null when it has no valid Study Instance UID (skipped). */
export function studyMatch(match: DicomJsonDataset): StudyMatch | null {
  const uid = match['0020000D']?.Value?.[0];
  if (typeof uid !== 'string' || !/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64) return null;
  const count = Number(match['00201208']?.Value?.[0]);
  const classes = (match['00080062']?.Value ?? []).filter(
    (v): v is string => typeof v === 'string' && /^[0-9.]{1,64}$/.test(v),
  );
  return {
    studyInstanceUid: uid,
    instances: Number.isInteger(count) && count >= 0 ? count : null,
    sopClasses: classes,
  };
}
