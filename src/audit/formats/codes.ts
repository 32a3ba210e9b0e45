/**
 * The coded values the audit renderings use: DICOM PS3.16 (coding scheme DCM; CID 400 event IDs,
 * CID 401 event types, CID 402 participant roles, CID 404 object ID types, CID 405 media types),
 * RFC 3881's codes that DICOM kept, and Strata's own private scheme for what has no standard code.
 */
export interface CodedValue {
  code: string;
  /** Coding scheme designator as DICOM writes it (codeSystemName): DCM, RFC-3881, 99STRATA. */
  scheme: string;
  /** Code meaning (originalText in the XML, display in FHIR). */
  meaning: string;
}

const dcm = (code: string, meaning: string): CodedValue => ({ code, scheme: 'DCM', meaning });
const rfc3881 = (code: string, meaning: string): CodedValue => ({
  code,
  scheme: 'RFC-3881',
  meaning,
});

/** A private coding scheme ("99" prefix, PS3.16 8.2): Strata's action names and role names. */
export const STRATA_SCHEME = '99STRATA';
export const strataCode = (code: string, meaning = code): CodedValue => ({
  code,
  scheme: STRATA_SCHEME,
  meaning,
});

/** CID 400 Audit Event ID. */
export const EVENT_ID = {
  applicationActivity: dcm('110100', 'Application Activity'),
  auditLogUsed: dcm('110101', 'Audit Log Used'),
  beginTransferring: dcm('110102', 'Begin Transferring DICOM Instances'),
  instancesAccessed: dcm('110103', 'DICOM Instances Accessed'),
  instancesTransferred: dcm('110104', 'DICOM Instances Transferred'),
  studyDeleted: dcm('110105', 'DICOM Study Deleted'),
  export: dcm('110106', 'Export'),
  import: dcm('110107', 'Import'),
  networkEntry: dcm('110108', 'Network Entry'),
  orderRecord: dcm('110109', 'Order Record'),
  patientRecord: dcm('110110', 'Patient Record'),
  procedureRecord: dcm('110111', 'Procedure Record'),
  query: dcm('110112', 'Query'),
  securityAlert: dcm('110113', 'Security Alert'),
  userAuthentication: dcm('110114', 'User Authentication'),
} as const;

/** CID 401 Audit Event Type Code (the ones Strata uses). */
export const EVENT_TYPE = {
  applicationStart: dcm('110120', 'Application Start'),
  applicationStop: dcm('110121', 'Application Stop'),
  login: dcm('110122', 'Login'),
  logout: dcm('110123', 'Logout'),
  nodeAuthentication: dcm('110126', 'Node Authentication'),
  securityConfiguration: dcm('110129', 'Security Configuration'),
  softwareConfiguration: dcm('110131', 'Software Configuration'),
  useOfRestrictedFunction: dcm('110132', 'Use of Restricted Function'),
  objectSecurityAttributesChanged: dcm('110135', 'Object Security Attributes Changed'),
  securityRolesChanged: dcm('110136', 'Security Roles Changed'),
  userSecurityAttributesChanged: dcm('110137', 'User security Attributes Changed'),
  localServiceOperationStarted: dcm('110141', 'Local Service Operation Started'),
  localServiceOperationStopped: dcm('110142', 'Local Service Operation Stopped'),
} as const;

/** CID 402 Audit Active Participant Role ID Code. */
export const ROLE_ID = {
  application: dcm('110150', 'Application'),
  applicationLauncher: dcm('110151', 'Application Launcher'),
  destination: dcm('110152', 'Destination Role ID'),
  source: dcm('110153', 'Source Role ID'),
  destinationMedia: dcm('110154', 'Destination Media'),
  sourceMedia: dcm('110155', 'Source Media'),
} as const;

/** Participant Object ID Type Codes (RFC 3881 values kept by A.5.1.2.4, and CID 404). */
export const ID_TYPE = {
  patientNumber: rfc3881('2', 'Patient Number'),
  userIdentifier: rfc3881('11', 'User Identifier'),
  uri: rfc3881('12', 'URI'),
  studyInstanceUid: dcm('110180', 'Study Instance UID'),
  sopClassUid: dcm('110181', 'SOP Class UID'),
  nodeId: dcm('110182', 'Node ID'),
} as const;

/** CID 405 Media Type Code: a folder or file is addressed by its URI. */
export const MEDIA_TYPE_URI = dcm('110037', 'URI');

/** The Query/Retrieve Information Model - FIND SOP Classes a C-FIND names (PS3.4 C.3). */
export const FIND_SOP_CLASS: Record<string, string> = {
  'patient-root': '1.2.840.10008.5.1.4.1.2.1.1',
  'study-root': '1.2.840.10008.5.1.4.1.2.2.1',
};
