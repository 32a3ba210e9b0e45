import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { stowAll } from './wado-client.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MG = '1.2.840.10008.5.1.4.1.1.1.2';

/** No scheduled sweeps (tests run them on an injected clock), and no rate limit. */
export const LIFECYCLE_TEST_CONFIG = `
lifecycle:
  maxActionsPerSecond: 0
  schedules: { retention: 'off', tiering: 'off', purge: 'off' }
fixity:
  schedule: 'off'
`;

interface StudySpec {
  patientId: string;
  birthDate: string;
  studyDate: string;
  modality: 'CT' | 'MG';
  sex?: string;
  instances?: number;
}

/** Stores a study (STOW-RS); its Study Instance UID. */
export async function storeStudy(
  s: { httpUrl: string; auth: string },
  spec: StudySpec,
): Promise<string> {
  const study = newUid();
  const series = newUid();
  const files = Array.from(
    { length: spec.instances ?? 1 },
    (_, i) =>
      makeInstance({
        sopClassUid: spec.modality === 'MG' ? MG : CT,
        studyInstanceUid: study,
        seriesInstanceUid: series,
        modality: spec.modality,
        patientId: spec.patientId,
        patientName: `Test^${spec.patientId}`,
        birthDate: spec.birthDate,
        sex: spec.sex ?? 'F',
        studyDate: spec.studyDate,
        instanceNumber: i + 1,
        pixelBytes: 2048,
      }).part10,
  );
  await stowAll(s.httpUrl, s.auth, files);
  return study;
}
