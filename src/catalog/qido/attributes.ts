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

function def(
  tag: string,
  keyword: string,
  vr: string,
  level: QueryLevel,
  column: string | null,
  match: MatchKind,
  computed?: AttributeDef['computed'],
): AttributeDef {
  return {
    tag,
    keyword,
    vr,
    level,
    match,
    ...(column ? { column } : {}),
    ...(computed ? { computed } : {}),
  };
}

/** The attributes the catalog can match on or returns from its columns. */
// prettier-ignore
const CATALOG: readonly AttributeDef[] = [
  // Study level: patient fields are denormalised onto studies (one table for a study search).
  def('00080005', 'SpecificCharacterSet', 'CS', 'study', null, 'ignored', 'charset'),
  def('00080020', 'StudyDate', 'DA', 'study', 'st.study_date', 'date'),
  def('00080030', 'StudyTime', 'TM', 'study', 'st.study_time', 'time'),
  def('00080050', 'AccessionNumber', 'SH', 'study', 'st.accession_number', 'text'),
  def('00080061', 'ModalitiesInStudy', 'CS', 'study', 'st.modalities_in_study', 'code-array'),
  def('00080062', 'SOPClassesInStudy', 'UI', 'study', 'st.sop_classes_in_study', 'uid-array'),
  def('00080080', 'InstitutionName', 'LO', 'study', 'st.institution_name', 'text'),
  def('00080090', 'ReferringPhysicianName', 'PN', 'study', 'st.referring_physician_name', 'pn'),
  def('00081030', 'StudyDescription', 'LO', 'study', 'st.study_description', 'text'),
  def('00081190', 'RetrieveURL', 'UR', 'study', null, 'return-only', 'retrieve-url'),
  def('00100010', 'PatientName', 'PN', 'study', 'st.patient_name', 'pn'),
  def('00100020', 'PatientID', 'LO', 'study', 'st.patient_id', 'text'),
  def('00100021', 'IssuerOfPatientID', 'LO', 'study', 'st.issuer_of_patient_id', 'text'),
  def('00100030', 'PatientBirthDate', 'DA', 'study', 'st.patient_birth_date', 'date'),
  def('00100040', 'PatientSex', 'CS', 'study', 'st.patient_sex', 'text'),
  def('0020000D', 'StudyInstanceUID', 'UI', 'study', 'st.study_instance_uid', 'uid'),
  def('00200010', 'StudyID', 'SH', 'study', 'st.study_id', 'text'),
  def('00201206', 'NumberOfStudyRelatedSeries', 'IS', 'study', 'st.number_of_series', 'return-only'),
  def('00201208', 'NumberOfStudyRelatedInstances', 'IS', 'study', 'st.number_of_instances', 'return-only'),
  // Series level.
  def('00080021', 'SeriesDate', 'DA', 'series', 'se.series_date', 'date'),
  def('00080031', 'SeriesTime', 'TM', 'series', 'se.series_time', 'time'),
  def('00080060', 'Modality', 'CS', 'series', 'se.modality', 'text'),
  def('0008103E', 'SeriesDescription', 'LO', 'series', 'se.series_description', 'text'),
  def('00180015', 'BodyPartExamined', 'CS', 'series', 'se.body_part_examined', 'text'),
  def('0020000E', 'SeriesInstanceUID', 'UI', 'series', 'se.series_instance_uid', 'uid'),
  def('00200011', 'SeriesNumber', 'IS', 'series', 'se.series_number', 'integer'),
  def('00201209', 'NumberOfSeriesRelatedInstances', 'IS', 'series', 'se.number_of_instances', 'return-only'),
  def('00400244', 'PerformedProcedureStepStartDate', 'DA', 'series', 'se.performed_procedure_step_start_date', 'date'),
  def('00400245', 'PerformedProcedureStepStartTime', 'TM', 'series', 'se.performed_procedure_step_start_time', 'time'),
  // Instance level (instances ⋈ the current version).
  def('00080016', 'SOPClassUID', 'UI', 'instance', 'i.sop_class_uid', 'uid'),
  def('00080018', 'SOPInstanceUID', 'UI', 'instance', 'i.sop_instance_uid', 'uid'),
  def('00080023', 'ContentDate', 'DA', 'instance', 'i.content_date', 'date'),
  def('0008002A', 'AcquisitionDateTime', 'DT', 'instance', fromMetadata('0008002A'), 'datetime'),
  def('00080033', 'ContentTime', 'TM', 'instance', 'i.content_time', 'time'),
  def('00083002', 'AvailableTransferSyntaxUID', 'UI', 'instance', 'v.transfer_syntax_uid', 'uid'),
  def('00200013', 'InstanceNumber', 'IS', 'instance', 'i.instance_number', 'integer'),
  def('00280008', 'NumberOfFrames', 'IS', 'instance', 'i.number_of_frames', 'integer'),
  def('00280010', 'Rows', 'US', 'instance', 'i.rows', 'integer'),
  def('00280011', 'Columns', 'US', 'instance', 'i.columns', 'integer'),
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
