import { type GeneratedInstance, makeInstance, newUid } from '../../src/dicom/testing/index.js';

/**
 * The archive the query tests (QIDO-RS, C-FIND) search: four patients, four studies, with dates,
 * times, modalities, accession numbers and character sets chosen so that each matching rule
 * separates them differently. Stored through STOW-RS by the tests.
 */
export interface QueryFixtures {
  /** Müller^Hans (UTF-8), P-MUE, 2024-01-05 08:30, CT (2 series, 3 instances). */
  S1: string;
  /** Müller^Anna (Latin-1), P-ANN, 2024-01-20 14:15, MR + CT. */
  S2: string;
  /** Doe^John, P-DOE, 2023-12-31 23:59, DX (JPEG). */
  S3: string;
  /** doe^jane, P-DOE2, 2024-03-01 07:00, CT (implicit VR). */
  S4: string;
  S1_CT1: string;
  S1_CT2: string;
  S2_MR: string;
  S2_CT: string;
  S1_SOP: string[];
  instances: GeneratedInstance[];
}

export const MUELLER_HANS = {
  transferSyntax: 'explicit',
  charset: 'ISO_IR 192',
  patientName: 'Müller^Hans',
  patientId: 'P-MUE',
  birthDate: '19600101',
  sex: 'M',
} as const;

export const DOE_JOHN = {
  transferSyntax: 'jpeg-baseline',
  patientName: 'Doe^John',
  patientId: 'P-DOE',
  studyDate: '20231231',
  studyTime: '235900',
  accession: 'ACCX2',
  studyDescription: 'XR Chest',
  modality: 'DX',
} as const;

export function makeQueryFixtures(): QueryFixtures {
  const f = {
    S1: newUid(),
    S2: newUid(),
    S3: newUid(),
    S4: newUid(),
    S1_CT1: newUid(),
    S1_CT2: newUid(),
    S2_MR: newUid(),
    S2_CT: newUid(),
    S1_SOP: [newUid(), newUid(), newUid()],
  };
  const instances = [
    ...f.S1_SOP.map((sop, n) =>
      makeInstance({
        ...MUELLER_HANS,
        studyDate: '20240105',
        studyTime: '083000',
        accession: 'ACC-1',
        studyDescription: 'CT Thorax',
        modality: 'CT',
        studyInstanceUid: f.S1,
        seriesInstanceUid: n < 2 ? f.S1_CT1 : f.S1_CT2,
        seriesNumber: n < 2 ? 1 : 2,
        instanceNumber: n + 1,
        sopInstanceUid: sop,
      }),
    ),
    ...(['MR', 'CT'] as const).map((modality, n) =>
      makeInstance({
        transferSyntax: 'explicit',
        charset: 'ISO_IR 100',
        patientName: 'Müller^Anna',
        patientId: 'P-ANN',
        birthDate: '19751231',
        sex: 'F',
        studyDate: '20240120',
        studyTime: '141500',
        accession: 'ACC_2',
        studyDescription: 'MR Knee 100%',
        modality,
        studyInstanceUid: f.S2,
        seriesInstanceUid: n === 0 ? f.S2_MR : f.S2_CT,
        seriesNumber: n + 1,
      }),
    ),
    makeInstance({ ...DOE_JOHN, studyInstanceUid: f.S3 }),
    makeInstance({
      transferSyntax: 'implicit',
      patientName: 'doe^jane',
      patientId: 'P-DOE2',
      studyDate: '20240301',
      studyTime: '0700',
      accession: 'ACC4',
      modality: 'CT',
      studyInstanceUid: f.S4,
    }),
  ];
  return { ...f, instances };
}
