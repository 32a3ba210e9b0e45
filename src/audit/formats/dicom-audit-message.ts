import { type AuditRow } from '../audit-event.js';
import { type AuditDescription, type ParticipantObject } from './audit-description.js';
import { type AuditSource, defaultAuditSource } from './audit-source.js';
import { type CodedValue } from './codes.js';
import { describeRow } from './describe-row.js';
import { el, serialize, type XmlElement } from './xml.js';

/**
 * The DICOM PS3.15 A.5 audit message of an audit row, as one line of XML. Elements come in the
 * order the A.5.1 schema (RelaxNG) gives: EventIdentification (EventID, EventTypeCode*,
 * EventOutcomeDescription?), ActiveParticipant+ (RoleIDCode*, MediaIdentifier?),
 * AuditSourceIdentification (AuditSourceTypeCode*), ParticipantObjectIdentification*
 * (ParticipantObjectIDTypeCode, ParticipantObjectName | ParticipantObjectQuery,
 * ParticipantObjectDetail*, ParticipantObjectDescription*). Rendering is deterministic: the same
 * row gives the same bytes, so a message sent twice is recognisably the same message.
 */
export function renderDicomAuditMessage(row: AuditRow, source?: AuditSource): string {
  return dicomAuditXml(describeRow(row, source ?? defaultAuditSource()));
}

export function dicomAuditXml(d: AuditDescription): string {
  const message = el(
    'AuditMessage',
    {},
    el(
      'EventIdentification',
      { EventActionCode: d.action, EventDateTime: d.at, EventOutcomeIndicator: d.outcome },
      coded('EventID', d.event),
      ...d.types.map((t) => coded('EventTypeCode', t)),
      d.outcomeDescription !== null && el('EventOutcomeDescription', {}, d.outcomeDescription),
    ),
    ...d.participants.map((p) =>
      el(
        'ActiveParticipant',
        {
          UserID: p.userId,
          UserIsRequestor: p.requestor,
          NetworkAccessPointID: p.networkAccessPoint?.id,
          NetworkAccessPointTypeCode: p.networkAccessPoint?.type,
        },
        ...p.roles.map((r) => coded('RoleIDCode', r)),
        p.mediaType && el('MediaIdentifier', {}, coded('MediaType', p.mediaType)),
      ),
    ),
    el(
      'AuditSourceIdentification',
      { AuditEnterpriseSiteID: d.source.siteId, AuditSourceID: d.source.id },
      // 4: application server process tier in a multi-tier system.
      el('AuditSourceTypeCode', { 'csd-code': '4' }),
    ),
    ...d.objects.map((o, i) => participantObject(o, i === 0 ? d.detail : null)),
  );
  return `<?xml version="1.0" encoding="UTF-8"?>${serialize(message)}`;
}

function coded(name: string, c: CodedValue): XmlElement {
  return el(name, { 'csd-code': c.code, codeSystemName: c.scheme, originalText: c.meaning });
}

/**
 * The first object also carries the row's detail (JSON, base64) as a ParticipantObjectDetail of
 * type StrataDetail: the facts DICOM has no field for (adapter, policy rule, reason) reach the
 * audit record repository too.
 */
function participantObject(
  o: ParticipantObject,
  detail: Record<string, unknown> | null,
): XmlElement {
  const details = [
    ...o.details,
    ...(detail
      ? [{ type: 'StrataDetail', value: Buffer.from(JSON.stringify(detail)).toString('base64') }]
      : []),
  ];
  return el(
    'ParticipantObjectIdentification',
    {
      ParticipantObjectID: o.id,
      ParticipantObjectTypeCode: o.typeCode,
      ParticipantObjectTypeCodeRole: o.typeCodeRole,
      ParticipantObjectDataLifeCycle: o.lifeCycle,
    },
    coded('ParticipantObjectIDTypeCode', o.idType),
    o.name !== null
      ? el('ParticipantObjectName', {}, o.name)
      : o.query !== null && el('ParticipantObjectQuery', {}, o.query),
    ...details.map((x) => el('ParticipantObjectDetail', { type: x.type, value: x.value })),
    o.instances &&
      el(
        'ParticipantObjectDescription',
        {},
        el(
          'SOPClass',
          { UID: o.instances.sopClassUid, NumberOfInstances: o.instances.count },
          ...o.instances.sopInstanceUids.map((uid) => el('Instance', { UID: uid })),
        ),
      ),
  );
}
