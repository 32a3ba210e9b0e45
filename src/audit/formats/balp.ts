import { type AuditDescription } from './audit-description.js';
import { type RestInteraction } from './event-catalog.js';

/** Code systems of FHIR R4 AuditEvent and IHE BALP (Basic Audit Log Patterns, ITI). */
export const SYSTEM = {
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  eventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  restful: 'http://hl7.org/fhir/restful-interaction',
  entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  lifecycle: 'http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle',
  sourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  provenanceParticipant: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  dicomUid: 'urn:dicom:uid',
  /** Strata's own codes (action names, roles); the DICOM XML's 99STRATA scheme. */
  strata: 'urn:strata:audit',
} as const;

const PROFILE_BASE = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';

/** The BALP profile names of each RESTful interaction, without and with a patient. */
const PROFILES: Record<RestInteraction, [plain: string, withPatient: string]> = {
  create: ['Create', 'PatientCreate'],
  read: ['Read', 'PatientRead'],
  update: ['Update', 'PatientUpdate'],
  delete: ['Delete', 'PatientDelete'],
  search: ['Query', 'PatientQuery'],
};

/**
 * The agent types BALP fixes per pattern: the client and the server. DICOM's (and so BALP's)
 * convention is that the data's sender is the Source: the server for a read, the client for a
 * create, update or query (whose parameters flow to the server). A delete names the client an
 * Application and the server the Custodian.
 */
export const BALP_AGENT_TYPES: Record<
  RestInteraction,
  {
    client: { system: string; code: string; display: string };
    server: { system: string; code: string; display: string };
  }
> = {
  read: {
    client: { system: SYSTEM.dicom, code: '110152', display: 'Destination Role ID' },
    server: { system: SYSTEM.dicom, code: '110153', display: 'Source Role ID' },
  },
  create: {
    client: { system: SYSTEM.dicom, code: '110153', display: 'Source Role ID' },
    server: { system: SYSTEM.dicom, code: '110152', display: 'Destination Role ID' },
  },
  update: {
    client: { system: SYSTEM.dicom, code: '110153', display: 'Source Role ID' },
    server: { system: SYSTEM.dicom, code: '110152', display: 'Destination Role ID' },
  },
  search: {
    client: { system: SYSTEM.dicom, code: '110153', display: 'Source Role ID' },
    server: { system: SYSTEM.dicom, code: '110152', display: 'Destination Role ID' },
  },
  delete: {
    client: { system: SYSTEM.dicom, code: '110150', display: 'Application' },
    server: { system: SYSTEM.provenanceParticipant, code: 'custodian', display: 'Custodian' },
  },
};

/**
 * The BALP profile an event conforms to, or null. Claimed only when everything the profile
 * requires is there: a RESTful event, a success (BALP's patterns fix outcome 0; failures follow
 * the pattern's shape without claiming it), the network addresses of both client and server,
 * and the entity the pattern names (the study as data, the query).
 */
export function balpProfile(d: AuditDescription): string | null {
  if (d.rest === null || d.outcome !== '0') return null;
  const client = d.participants.find((p) => p.part === 'actor');
  const server = d.participants.find((p) => p.part === 'archive');
  if (!client?.networkAccessPoint || !server?.networkAccessPoint) return null;
  const needed = d.rest === 'search' ? 'query' : 'study';
  if (!d.objects.some((o) => o.kind === needed)) return null;
  const patient = d.objects.some((o) => o.kind === 'patient');
  return PROFILE_BASE + PROFILES[d.rest][patient ? 1 : 0];
}
