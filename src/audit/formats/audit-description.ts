import { type CodedValue } from './codes.js';
import { type ActionCode, type RestInteraction } from './event-catalog.js';

/**
 * One audit row described in the terms of PS3.15 A.5 (event, active participants, audit source,
 * participant objects), independent of the syntax: the DICOM XML and the FHIR AuditEvent are two
 * renderings of this one description, so they never disagree.
 */
export interface AuditDescription {
  seq: number;
  event: CodedValue;
  /** The standard's event type codes, then the private 99STRATA code naming the Strata action. */
  types: CodedValue[];
  action: ActionCode;
  /** ISO 8601 UTC (the row's `at`). */
  at: string;
  outcome: OutcomeIndicator;
  outcomeDescription: string | null;
  participants: Participant[];
  source: { id: string; siteId: string | null };
  objects: ParticipantObject[];
  /** Set when the event came over HTTP (DICOMweb or the API): the BALP pattern it follows. */
  rest: RestInteraction | null;
  /** The row's free-form detail (null when there is none or it was withheld). */
  detail: Record<string, unknown> | null;
}

/** EventOutcomeIndicator: success, minor failure, serious failure, major failure. */
export type OutcomeIndicator = '0' | '4' | '8' | '12';

export interface Participant {
  /** What the participant is to Strata: whoever acted, the archive itself, another node, media. */
  part: 'actor' | 'archive' | 'peer' | 'media';
  userId: string;
  requestor: boolean;
  roles: CodedValue[];
  /** NetworkAccessPointTypeCode: 1 machine name, 2 IP address, 5 URI. */
  networkAccessPoint: { id: string; type: '1' | '2' | '5' } | null;
  /** MediaIdentifier/MediaType, for export and import media. */
  mediaType: CodedValue | null;
}

export interface ParticipantObject {
  kind: 'patient' | 'study' | 'query' | 'subject' | 'audit-log';
  id: string;
  /** ParticipantObjectTypeCode: 1 person, 2 system object, 3 organization, 4 other. */
  typeCode: '1' | '2' | '3' | '4';
  /** ParticipantObjectTypeCodeRole (A.5.1.2.2): 1 patient, 3 report, 13 security resource... */
  typeCodeRole: string | null;
  lifeCycle: string | null;
  idType: CodedValue;
  name: string | null;
  /** ParticipantObjectQuery, base64. */
  query: string | null;
  /** ParticipantObjectDetail type/value pairs, values base64. */
  details: { type: string; value: string }[];
  /** The study's instances (ParticipantObjectDescription/SOPClass), when the row counts them. */
  instances: { count: number; sopClassUid: string | null; sopInstanceUids: string[] } | null;
}
