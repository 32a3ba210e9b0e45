import { type AuditRow } from '../audit-event.js';
import {
  type AuditDescription,
  type Participant,
  type ParticipantObject,
} from './audit-description.js';
import { type AuditSource, defaultAuditSource } from './audit-source.js';
import { BALP_AGENT_TYPES, balpProfile, SYSTEM } from './balp.js';
import { type CodedValue, STRATA_SCHEME } from './codes.js';
import { describeRow } from './describe-row.js';

type Json = Record<string, unknown>;

/**
 * The FHIR R4 AuditEvent of an audit row, following IHE BALP: DICOMweb and API events take the
 * RESTful pattern of their interaction (type `rest`, subtype create/read/update/delete/search,
 * client and server agents, the study as the data entity, the patient entity) and claim its
 * profile in meta.profile when they conform; DIMSE, jobs and the CLI keep the DICOM event codes
 * as type and subtype (AuditEvent's own DICOM mapping), with the same agents and entities.
 */
export function renderFhirAuditEvent(row: AuditRow, source?: AuditSource): Record<string, unknown> {
  return fhirAuditEvent(describeRow(row, source ?? defaultAuditSource()));
}

export function fhirAuditEvent(d: AuditDescription): Json {
  const profile = balpProfile(d);
  const standardTypes = d.types.filter((t) => t.scheme !== STRATA_SCHEME);
  const event: Json = {
    resourceType: 'AuditEvent',
    id: String(d.seq),
    ...(profile ? { meta: { profile: [profile] } } : {}),
    extension: [
      { url: `${SYSTEM.strata}:seq`, valueString: String(d.seq) },
      { url: `${SYSTEM.strata}:action`, valueString: d.types.at(-1)!.code },
      ...(d.detail
        ? [{ url: `${SYSTEM.strata}:detail`, valueString: JSON.stringify(d.detail) }]
        : []),
    ],
    type: d.rest
      ? { system: SYSTEM.eventType, code: 'rest', display: 'Restful Operation' }
      : coding(d.event),
    subtype: d.rest
      ? [
          { system: SYSTEM.restful, code: d.rest, display: d.rest },
          // A delete's subtype is exactly `delete` (PatientDelete slices it closed).
          ...(d.rest === 'delete' ? [] : [d.event, ...standardTypes].map(coding)),
        ]
      : standardTypes.map(coding),
    action: d.action,
    recorded: d.at,
    outcome: d.outcome,
    ...(d.outcomeDescription ? { outcomeDesc: d.outcomeDescription } : {}),
    agent: d.participants.map((p) => agent(d, p)),
    source: {
      ...(d.source.siteId ? { site: d.source.siteId } : {}),
      observer: { identifier: { value: d.source.id }, display: d.source.id },
      type: [{ system: SYSTEM.sourceType, code: '4', display: 'Application Server' }],
    },
    entity: d.objects.map((o) => entity(d, o)),
  };
  if ((event.subtype as unknown[]).length === 0) delete event.subtype;
  if ((event.entity as unknown[]).length === 0) delete event.entity;
  return event;
}

function coding(c: CodedValue): Json {
  const system =
    c.scheme === 'DCM' ? SYSTEM.dicom : c.scheme === STRATA_SCHEME ? SYSTEM.strata : c.scheme;
  return { system, code: c.code, display: c.meaning };
}

function agent(d: AuditDescription, p: Participant): Json {
  // In a RESTful pattern whoever acted is the client and the archive the server, typed as BALP
  // says; other participants (a C-MOVE destination, media) keep their DICOM role.
  const slice = d.rest && (p.part === 'actor' || p.part === 'archive') ? d.rest : null;
  const balpType = slice ? BALP_AGENT_TYPES[slice][p.part === 'actor' ? 'client' : 'server'] : null;
  const dicomRole = p.roles.find((r) => r.scheme === 'DCM');
  const type = balpType ?? (dicomRole ? coding(dicomRole) : null);
  const strataRoles = p.roles.filter((r) => r.scheme === STRATA_SCHEME);
  // PatientDelete forbids a role on the client agent.
  const roles = d.rest === 'delete' && slice ? [] : strataRoles;
  return {
    ...(type ? { type: { coding: [type] } } : {}),
    ...(roles.length > 0 ? { role: roles.map((r) => ({ coding: [coding(r)] })) } : {}),
    who: { identifier: { value: p.userId }, display: p.userId },
    requestor: p.requestor,
    ...(p.networkAccessPoint
      ? { network: { address: p.networkAccessPoint.id, type: p.networkAccessPoint.type } }
      : {}),
    ...(p.mediaType ? { media: coding(p.mediaType) } : {}),
  };
}

const ENTITY_TYPE: Record<ParticipantObject['typeCode'], string> = {
  '1': 'Person',
  '2': 'System Object',
  '3': 'Organization',
  '4': 'Other',
};

const OBJECT_ROLE: Record<string, string> = {
  '1': 'Patient',
  '3': 'Report',
  '11': 'Security User Entity',
  '13': 'Security Resource',
  '18': 'Schedule',
  '20': 'Job',
  '24': 'Query',
};

function entity(d: AuditDescription, o: ParticipantObject): Json {
  const type = { system: SYSTEM.entityType, code: o.typeCode, display: ENTITY_TYPE[o.typeCode] };
  const role = (code: string) => ({ system: SYSTEM.objectRole, code, display: OBJECT_ROLE[code] });
  switch (o.kind) {
    case 'patient':
      return {
        what: { type: 'Patient', identifier: { value: o.id } },
        type,
        role: role('1'),
      };
    case 'study': {
      // A delete pattern's data entity has no life cycle and no detail (PatientDelete).
      const plain = d.rest === 'delete';
      return {
        what: {
          type: 'ImagingStudy',
          identifier: { system: SYSTEM.dicomUid, value: `urn:oid:${o.id}` },
        },
        type,
        role: role('3'),
        ...(o.lifeCycle && !plain
          ? { lifecycle: { system: SYSTEM.lifecycle, code: o.lifeCycle } }
          : {}),
        ...(o.instances && !plain
          ? { detail: [{ type: 'NumberOfInstances', valueString: String(o.instances.count) }] }
          : {}),
      };
    }
    case 'query':
      // BALP's query entity has no `what`; a C-FIND's SOP Class goes in the description.
      return {
        type,
        role: role('24'),
        description: o.idType.code === '110181' ? `C-FIND ${o.id}` : `QIDO-RS ${o.id}`,
        query: o.query ?? '',
      };
    default:
      return {
        what: { identifier: { value: o.id }, ...(o.name ? { display: o.name } : {}) },
        type,
        ...(o.typeCodeRole && OBJECT_ROLE[o.typeCodeRole] ? { role: role(o.typeCodeRole) } : {}),
        ...(o.name ? { name: o.name } : {}),
      };
  }
}
