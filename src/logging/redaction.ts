/**
 * A safety net, not the policy: code must not log patient data at all (messages name UIDs and
 * counts, never values). Should a field with one of these names reach a log line anyway, at the
 * top level or one level down, pino replaces its value. Query strings are never logged (QIDO
 * query strings hold patient names); neither are credentials.
 */
const PHI_KEYS = [
  'patientName',
  'patientId',
  'patientBirthDate',
  'birthDate',
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'otherPatientIds',
  'issuerOfPatientId',
  'query',
  'queryString',
  'search',
  'authorization',
  'cookie',
  'token',
  'password',
  'passphrase',
];

export const REDACTED_PATHS: string[] = PHI_KEYS.flatMap((k) => [k, `*.${k}`]);

export const CENSOR = '[redacted]';
