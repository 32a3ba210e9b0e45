import { type QueryLevel } from './search-types.js';

/**
 * How a matching key is compared (PS3.4 C.2.2.2):
 * - uid: single value or UID list matching;
 * - text: single value, wildcard (* ?) and multiple-value matching, case-sensitive;
 * - pn: like text, but case-insensitive (PS3.4 allows it for PN, and users expect it);
 * - date / time / datetime: single value or range matching;
 * - integer: single value (or a '\\' list) of an IS/US attribute;
 * - code-array / uid-array: a column holding an array (ModalitiesInStudy, SOPClassesInStudy);
 * - return-only: may be asked for (empty value) but not matched (counts, RetrieveURL);
 * - ignored: accepted and not matched (SpecificCharacterSet: QIDO queries are always UTF-8).
 */
export type MatchKind =
  | 'uid'
  | 'uid-array'
  | 'text'
  | 'pn'
  | 'date'
  | 'time'
  | 'datetime'
  | 'integer'
  | 'code-array'
  | 'return-only'
  | 'ignored';

export interface AttributeDef {
  /** 'GGGGEEEE', upper-case. */
  tag: string;
  keyword: string;
  vr: string;
  /** The level whose table holds the attribute (studies, series, instances + current version). */
  level: QueryLevel;
  /**
   * The SQL expression over the aliases st (studies), se (series), i (instances) and v (the
   * current instance_versions row). Absent: the attribute exists only in the stored metadata, or
   * is computed (RetrieveURL, SpecificCharacterSet).
   */
  column?: string;
  match: MatchKind;
  computed?: 'retrieve-url' | 'charset';
}

/** A value read from the stored DICOM JSON of the current version (instance level only). */
function fromMetadata(tag: string): string {
  return `(v.metadata #>> '{${tag},Value,0}')`;
}

/** The attributes the catalog can match on or returns from its columns. */
const CATALOG: readonly AttributeDef[] = [
  // Study level: patient fields are denormalised onto studies (one table for a study search).
  {
    tag: '00080005',
    keyword: 'SpecificCharacterSet',
    vr: 'CS',
    level: 'study',
    match: 'ignored',
    computed: 'charset',
  },
  {
    tag: '00080020',
    keyword: 'StudyDate',
    vr: 'DA',
    level: 'study',
    column: 'st.study_date',
    match: 'date',
  },
  {
    tag: '00080030',
    keyword: 'StudyTime',
    vr: 'TM',
    level: 'study',
    column: 'st.study_time',
    match: 'time',
  },
  {
    tag: '00080050',
    keyword: 'AccessionNumber',
    vr: 'SH',
    level: 'study',
    column: 'st.accession_number',
    match: 'text',
  },
  {
    tag: '00080061',
    keyword: 'ModalitiesInStudy',
    vr: 'CS',
    level: 'study',
    column: 'st.modalities_in_study',
    match: 'code-array',
  },
  {
    tag: '00080062',
    keyword: 'SOPClassesInStudy',
    vr: 'UI',
    level: 'study',
    column: 'st.sop_classes_in_study',
    match: 'uid-array',
  },
  {
    tag: '00080080',
    keyword: 'InstitutionName',
    vr: 'LO',
    level: 'study',
    column: 'st.institution_name',
    match: 'text',
  },
  {
    tag: '00080090',
    keyword: 'ReferringPhysicianName',
    vr: 'PN',
    level: 'study',
    column: 'st.referring_physician_name',
    match: 'pn',
  },
  {
    tag: '00081030',
    keyword: 'StudyDescription',
    vr: 'LO',
    level: 'study',
    column: 'st.study_description',
    match: 'text',
  },
  {
    tag: '00081190',
    keyword: 'RetrieveURL',
    vr: 'UR',
    level: 'study',
    match: 'return-only',
    computed: 'retrieve-url',
  },
  {
    tag: '00100010',
    keyword: 'PatientName',
    vr: 'PN',
    level: 'study',
    column: 'st.patient_name',
    match: 'pn',
  },
  {
    tag: '00100020',
    keyword: 'PatientID',
    vr: 'LO',
    level: 'study',
    column: 'st.patient_id',
    match: 'text',
  },
  {
    tag: '00100021',
    keyword: 'IssuerOfPatientID',
    vr: 'LO',
    level: 'study',
    column: 'st.issuer_of_patient_id',
    match: 'text',
  },
  {
    tag: '00100030',
    keyword: 'PatientBirthDate',
    vr: 'DA',
    level: 'study',
    column: 'st.patient_birth_date',
    match: 'date',
  },
  {
    tag: '00100040',
    keyword: 'PatientSex',
    vr: 'CS',
    level: 'study',
    column: 'st.patient_sex',
    match: 'text',
  },
  {
    tag: '0020000D',
    keyword: 'StudyInstanceUID',
    vr: 'UI',
    level: 'study',
    column: 'st.study_instance_uid',
    match: 'uid',
  },
  {
    tag: '00200010',
    keyword: 'StudyID',
    vr: 'SH',
    level: 'study',
    column: 'st.study_id',
    match: 'text',
  },
  {
    tag: '00201206',
    keyword: 'NumberOfStudyRelatedSeries',
    vr: 'IS',
    level: 'study',
    column: 'st.number_of_series',
    match: 'return-only',
  },
  {
    tag: '00201208',
    keyword: 'NumberOfStudyRelatedInstances',
    vr: 'IS',
    level: 'study',
    column: 'st.number_of_instances',
    match: 'return-only',
  },
  // Series level.
  {
    tag: '00080021',
    keyword: 'SeriesDate',
    vr: 'DA',
    level: 'series',
    column: 'se.series_date',
    match: 'date',
  },
  {
    tag: '00080031',
    keyword: 'SeriesTime',
    vr: 'TM',
    level: 'series',
    column: 'se.series_time',
    match: 'time',
  },
  {
    tag: '00080060',
    keyword: 'Modality',
    vr: 'CS',
    level: 'series',
    column: 'se.modality',
    match: 'text',
  },
  {
    tag: '0008103E',
    keyword: 'SeriesDescription',
    vr: 'LO',
    level: 'series',
    column: 'se.series_description',
    match: 'text',
  },
  {
    tag: '00180015',
    keyword: 'BodyPartExamined',
    vr: 'CS',
    level: 'series',
    column: 'se.body_part_examined',
    match: 'text',
  },
  {
    tag: '0020000E',
    keyword: 'SeriesInstanceUID',
    vr: 'UI',
    level: 'series',
    column: 'se.series_instance_uid',
    match: 'uid',
  },
  {
    tag: '00200011',
    keyword: 'SeriesNumber',
    vr: 'IS',
    level: 'series',
    column: 'se.series_number',
    match: 'integer',
  },
  {
    tag: '00201209',
    keyword: 'NumberOfSeriesRelatedInstances',
    vr: 'IS',
    level: 'series',
    column: 'se.number_of_instances',
    match: 'return-only',
  },
  {
    tag: '00400244',
    keyword: 'PerformedProcedureStepStartDate',
    vr: 'DA',
    level: 'series',
    column: 'se.performed_procedure_step_start_date',
    match: 'date',
  },
  {
    tag: '00400245',
    keyword: 'PerformedProcedureStepStartTime',
    vr: 'TM',
    level: 'series',
    column: 'se.performed_procedure_step_start_time',
    match: 'time',
  },
  // Instance level (instances ⋈ the current version).
  {
    tag: '00080016',
    keyword: 'SOPClassUID',
    vr: 'UI',
    level: 'instance',
    column: 'i.sop_class_uid',
    match: 'uid',
  },
  {
    tag: '00080018',
    keyword: 'SOPInstanceUID',
    vr: 'UI',
    level: 'instance',
    column: 'i.sop_instance_uid',
    match: 'uid',
  },
  {
    tag: '00080023',
    keyword: 'ContentDate',
    vr: 'DA',
    level: 'instance',
    column: 'i.content_date',
    match: 'date',
  },
  {
    tag: '0008002A',
    keyword: 'AcquisitionDateTime',
    vr: 'DT',
    level: 'instance',
    column: fromMetadata('0008002A'),
    match: 'datetime',
  },
  {
    tag: '00080033',
    keyword: 'ContentTime',
    vr: 'TM',
    level: 'instance',
    column: 'i.content_time',
    match: 'time',
  },
  {
    tag: '00083002',
    keyword: 'AvailableTransferSyntaxUID',
    vr: 'UI',
    level: 'instance',
    column: 'v.transfer_syntax_uid',
    match: 'uid',
  },
  {
    tag: '00200013',
    keyword: 'InstanceNumber',
    vr: 'IS',
    level: 'instance',
    column: 'i.instance_number',
    match: 'integer',
  },
  {
    tag: '00280008',
    keyword: 'NumberOfFrames',
    vr: 'IS',
    level: 'instance',
    column: 'i.number_of_frames',
    match: 'integer',
  },
  {
    tag: '00280010',
    keyword: 'Rows',
    vr: 'US',
    level: 'instance',
    column: 'i.rows',
    match: 'integer',
  },
  {
    tag: '00280011',
    keyword: 'Columns',
    vr: 'US',
    level: 'instance',
    column: 'i.columns',
    match: 'integer',
  },
];

/**
 * Attributes that are not catalog columns but that clients commonly name in `includefield` by
 * keyword. They are returned from the stored metadata; any other attribute can be asked for by
 * its tag. (A full keyword dictionary would come from the dicom context; it does not export one.)
 */
const METADATA_ONLY: ReadonlyArray<readonly [tag: string, keyword: string, vr: string]> = [
  ['00080008', 'ImageType', 'CS'],
  ['00080022', 'AcquisitionDate', 'DA'],
  ['00080032', 'AcquisitionTime', 'TM'],
  ['00080056', 'InstanceAvailability', 'CS'],
  ['00080070', 'Manufacturer', 'LO'],
  ['00080201', 'TimezoneOffsetFromUTC', 'SH'],
  ['00081010', 'StationName', 'SH'],
  ['00081040', 'InstitutionalDepartmentName', 'LO'],
  ['00081090', 'ManufacturerModelName', 'LO'],
  ['00101010', 'PatientAge', 'AS'],
  ['00101020', 'PatientSize', 'DS'],
  ['00101030', 'PatientWeight', 'DS'],
  ['00101000', 'OtherPatientIDs', 'LO'],
  ['00180050', 'SliceThickness', 'DS'],
  ['00181030', 'ProtocolName', 'LO'],
  ['00200020', 'PatientOrientation', 'CS'],
  ['00200032', 'ImagePositionPatient', 'DS'],
  ['00200037', 'ImageOrientationPatient', 'DS'],
  ['00200052', 'FrameOfReferenceUID', 'UI'],
  ['00200060', 'Laterality', 'CS'],
  ['00201041', 'SliceLocation', 'DS'],
  ['00280002', 'SamplesPerPixel', 'US'],
  ['00280004', 'PhotometricInterpretation', 'CS'],
  ['00280030', 'PixelSpacing', 'DS'],
  ['00280100', 'BitsAllocated', 'US'],
  ['00280101', 'BitsStored', 'US'],
  ['00280102', 'HighBit', 'US'],
  ['00280103', 'PixelRepresentation', 'US'],
  ['00281050', 'WindowCenter', 'DS'],
  ['00281051', 'WindowWidth', 'DS'],
  ['00281052', 'RescaleIntercept', 'DS'],
  ['00281053', 'RescaleSlope', 'DS'],
];

const BY_TAG = new Map<string, AttributeDef>();
const BY_KEYWORD = new Map<string, AttributeDef>();
for (const def of CATALOG) {
  BY_TAG.set(def.tag, def);
  BY_KEYWORD.set(def.keyword, def);
}
const META_BY_TAG = new Map<string, { tag: string; keyword: string; vr: string }>();
const META_BY_KEYWORD = new Map<string, { tag: string; keyword: string; vr: string }>();
for (const [tag, keyword, vr] of METADATA_ONLY) {
  META_BY_TAG.set(tag, { tag, keyword, vr });
  META_BY_KEYWORD.set(keyword, { tag, keyword, vr });
}

const TAG = /^[0-9A-Fa-f]{8}$/;

/** An attribute as a query names it: the catalog's definition, or only a tag (metadata). */
export type ResolvedAttribute =
  | { kind: 'catalog'; def: AttributeDef }
  | { kind: 'metadata'; tag: string; keyword: string | null; vr: string | null };

/**
 * Resolves a keyword or a tag; null for an unknown keyword or a malformed tag. Sequence paths
 * ('00400275.00321060') are not resolved: they are not supported.
 */
export function resolveAttribute(id: string): ResolvedAttribute | null {
  let tag: string | undefined;
  if (TAG.test(id)) tag = id.toUpperCase();
  const def = tag ? BY_TAG.get(tag) : BY_KEYWORD.get(id);
  if (def) return { kind: 'catalog', def };
  const meta = tag ? META_BY_TAG.get(tag) : META_BY_KEYWORD.get(id);
  if (meta) return { kind: 'metadata', ...meta };
  if (!tag) return null;
  // Group 0002 is the file meta group and groups 0000 / FFFE are not data set attributes.
  const group = tag.slice(0, 4);
  if (group === '0000' || group === '0002' || group === 'FFFE') return null;
  return { kind: 'metadata', tag, keyword: null, vr: null };
}

export function catalogAttribute(tag: string): AttributeDef {
  const def = BY_TAG.get(tag);
  if (!def) throw new Error(`no catalog attribute ${tag}`);
  return def;
}

export function catalogAttributes(): readonly AttributeDef[] {
  return CATALOG;
}

const ORDER: Record<QueryLevel, number> = { study: 0, series: 1, instance: 2 };

/** True when a search at `searchLevel` joins the table that holds attributes of `attrLevel`. */
export function isJoined(attrLevel: QueryLevel, searchLevel: QueryLevel): boolean {
  return ORDER[attrLevel] <= ORDER[searchLevel];
}

/**
 * What each level returns by default (PS3.18 Tables 10.6.3-3, -4 and -5), as tags. BitsAllocated
 * (instance) is taken from the stored metadata. Instance Availability and Timezone Offset From UTC
 * are left out: the first depends on the tier and is not tracked per study yet, the second is not
 * indexed.
 */
export const DEFAULT_RETURN: Record<QueryLevel, readonly string[]> = {
  study: [
    '00080005',
    '00080020',
    '00080030',
    '00080050',
    '00080061',
    '00080090',
    '00081190',
    '00100010',
    '00100020',
    '00100030',
    '00100040',
    '0020000D',
    '00200010',
    '00201206',
    '00201208',
  ],
  series: [
    '00080005',
    '00080060',
    '0008103E',
    '00081190',
    '0020000E',
    '00200011',
    '00201209',
    '00400244',
    '00400245',
  ],
  instance: [
    '00080005',
    '00080016',
    '00080018',
    '00081190',
    '00083002',
    '00200013',
    '00280008',
    '00280010',
    '00280011',
    '00280100',
  ],
};
