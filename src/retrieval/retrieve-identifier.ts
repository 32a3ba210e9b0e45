import { type DicomJsonDataset } from '../dicom/index.js';

/** Patient Root and Study Root Query/Retrieve models, MOVE and GET (PS3.4 C.6). */
export const RETRIEVE_SOP_CLASSES = {
  patientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  patientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  studyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  studyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
} as const;

export type RetrieveLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

/** What a C-MOVE/C-GET identifier asks for: unique keys only (PS3.4 C.4.2.2.1 / C.4.3.2.1). */
export interface RetrieveKeys {
  level: RetrieveLevel;
  patientIds: string[];
  studyInstanceUids: string[];
  seriesInstanceUids: string[];
  sopInstanceUids: string[];
}

export class RetrieveIdentifierError extends Error {}

const UID = /^[0-9]+(\.[0-9]+)*$/;

function values(ds: DicomJsonDataset, tag: string): string[] {
  return (ds[tag]?.Value ?? [])
    .map((v) => (typeof v === 'string' ? v.trim() : ''))
    .filter((v) => v !== '');
}

function uids(ds: DicomJsonDataset, tag: string, name: string, required: boolean): string[] {
  const list = values(ds, tag);
  if (required && list.length === 0) {
    throw new RetrieveIdentifierError(`${name} is required at this level`);
  }
  for (const uid of list) {
    if (uid.length > 64 || !UID.test(uid))
      throw new RetrieveIdentifierError(`${name} is not a UID`);
  }
  return list;
}

/**
 * Reads the identifier of a C-MOVE/C-GET: the level and the unique keys down to it (UID lists
 * allowed at the level itself, PS3.4 C.4.2.2.1). Patient Root needs a Patient ID above STUDY;
 * Study Root has no PATIENT level.
 */
export function readRetrieveKeys(ds: DicomJsonDataset, patientRoot: boolean): RetrieveKeys {
  const level = values(ds, '00080052')[0]?.toUpperCase();
  if (level !== 'PATIENT' && level !== 'STUDY' && level !== 'SERIES' && level !== 'IMAGE') {
    throw new RetrieveIdentifierError(
      'Query/Retrieve Level missing or not PATIENT, STUDY, SERIES, IMAGE',
    );
  }
  if (level === 'PATIENT' && !patientRoot) {
    throw new RetrieveIdentifierError('the Study Root model has no PATIENT level');
  }
  const patientIds = values(ds, '00100020');
  if (patientRoot && patientIds.length === 0) {
    throw new RetrieveIdentifierError('Patient ID is required in the Patient Root model');
  }
  return {
    level,
    patientIds,
    studyInstanceUids: uids(ds, '0020000D', 'Study Instance UID', level !== 'PATIENT'),
    seriesInstanceUids: uids(
      ds,
      '0020000E',
      'Series Instance UID',
      level === 'SERIES' || level === 'IMAGE',
    ),
    sopInstanceUids: uids(ds, '00080018', 'SOP Instance UID', level === 'IMAGE'),
  };
}
