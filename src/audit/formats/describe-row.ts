import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type AuditRow } from '../audit-event.js';
import {
  type AuditDescription,
  type OutcomeIndicator,
  type Participant,
  type ParticipantObject,
} from './audit-description.js';
import { type AuditSource } from './audit-source.js';
import {
  type CodedValue,
  FIND_SOP_CLASS,
  ID_TYPE,
  MEDIA_TYPE_URI,
  ROLE_ID,
  strataCode,
} from './codes.js';
import { type CatalogEntry, catalogEntryOf, type MessageShape } from './event-catalog.js';

/**
 * Success is 0; a warning (kept-first duplicate, a sweep with failures) a minor failure (4); a
 * failure (refused, denied, broken) a serious one (8): the action ended without its effect.
 * Strata never reports 12 (the archive made unavailable): no row says that.
 */
const OUTCOME: Record<AuditRow['outcome'], OutcomeIndicator> = {
  success: '0',
  warning: '4',
  failure: '8',
};

/** Describes one audit row as PS3.15 A.5 sees it (see AuditDescription). */
export function describeRow(row: AuditRow, source: AuditSource): AuditDescription {
  const entry = catalogEntryOf(row);
  const { participants, objects } = SHAPES[entry.shape](row, entry, source);
  return {
    seq: row.seq,
    event: entry.event,
    types: [...entry.types, strataCode(row.action)],
    action: entry.action,
    at: row.at,
    outcome: OUTCOME[row.outcome],
    outcomeDescription: row.outcome === 'success' ? null : reasonOf(row.detail),
    participants,
    source: { id: source.aeTitle, siteId: source.siteId },
    objects,
    rest: cameOverHttp(row) ? entry.rest : null,
    detail: row.detail && Object.keys(row.detail).length > 0 ? row.detail : null,
  };
}

type Shape = (
  row: AuditRow,
  entry: CatalogEntry,
  source: AuditSource,
) => { participants: Participant[]; objects: ParticipantObject[] };

const SHAPES: Record<MessageShape, Shape> = {
  store: (row, entry, source) => {
    // A pull adapter's instances were asked for by the archive: then it is the requestor.
    const pulled = /-pull$/.test(str(row.detail?.adapter) ?? '');
    return {
      participants: [
        actor(row, !pulled, [ROLE_ID.source]),
        archive(source, pulled, [ROLE_ID.destination]),
      ],
      objects: studyAndPatient(row, entry),
    };
  },
  import: (row, entry, source) => {
    const media = str(row.detail?.source) ?? row.actor;
    return {
      participants: [
        {
          part: 'media',
          userId: media,
          requestor: false,
          roles: [ROLE_ID.sourceMedia],
          networkAccessPoint: null,
          mediaType: MEDIA_TYPE_URI,
        },
        ...(row.actor !== media ? [actor(row, true, [])] : []),
        archive(source, row.actor === media, [ROLE_ID.destination]),
      ],
      objects: studyAndPatient(row, entry),
    };
  },
  query: (row, entry, source) => ({
    participants: [
      actor(row, true, [ROLE_ID.source]),
      archive(source, false, [ROLE_ID.destination]),
    ],
    // The patient too when the row knows whose data was searched (BALP's PatientQuery).
    objects: [queryObject(row), ...studyAndPatient({ ...row, studyInstanceUid: null }, entry)],
  }),
  retrieve: (row, entry, source) => {
    const destination = str(row.detail?.destination);
    const participants = destination
      ? // C-MOVE: the archive sends to a third node; whoever asked is the other participant.
        [
          archive(source, false, [ROLE_ID.source]),
          peer(destination, false, [ROLE_ID.destination]),
          actor(row, true, []),
        ]
      : [archive(source, false, [ROLE_ID.source]), actor(row, true, [ROLE_ID.destination])];
    return { participants, objects: studyAndPatient(row, entry) };
  },
  export: (row, entry, source) => {
    const out = str(row.detail?.out);
    return {
      participants: [
        actor(row, true, []),
        archive(source, false, [ROLE_ID.source]),
        {
          part: 'media',
          userId: out ? pathToFileURL(out).href : 'unknown',
          requestor: false,
          roles: [ROLE_ID.destination, ROLE_ID.destinationMedia],
          networkAccessPoint: null,
          mediaType: MEDIA_TYPE_URI,
        },
      ],
      objects: studyAndPatient(row, entry),
    };
  },
  study: (row, entry, source) => ({
    participants: actorAndArchive(row, source),
    objects: studyAndPatient(row, entry),
  }),
  'security-alert': (row, entry, source) => ({
    // The archive reports; whoever acted (a peer, a user, a job) performed.
    participants: actorAndArchive(row, source),
    objects: [...subjectOf(row), ...studyAndPatient(row, entry)],
  }),
  authentication: (row, _entry, source) => ({
    participants: [actor(row, true, []), archive(source, false, [])],
    objects: [],
  }),
  'audit-log-used': (row, _entry, source) => {
    const path = str(row.detail?.path);
    return {
      participants: actorAndArchive(row, source),
      objects: [
        {
          ...object('audit-log', path?.startsWith('/') ? path : 'urn:strata:audit-trail', '2'),
          typeCodeRole: '13',
          idType: ID_TYPE.uri,
          name: 'Security Audit Log',
        },
      ],
    };
  },
  application: (row, _entry, source) => ({
    participants: [
      archive(source, row.actor === source.aeTitle, [ROLE_ID.application]),
      ...(row.actor !== source.aeTitle ? [actor(row, true, [ROLE_ID.applicationLauncher])] : []),
    ],
    objects: [],
  }),
  commitment: (row, entry, source) => {
    const to = str(row.detail?.to);
    // A report the archive sends (actor: the archive) goes to the node that asked for it.
    const participants = to
      ? [archive(source, true, [ROLE_ID.source]), peer(to, false, [ROLE_ID.destination])]
      : [actor(row, true, [ROLE_ID.source]), archive(source, false, [ROLE_ID.destination])];
    return { participants, objects: studyAndPatient(row, entry) };
  },
};

function actor(row: AuditRow, requestor: boolean, roles: CodedValue[]): Participant {
  return {
    part: 'actor',
    userId: row.actor,
    requestor,
    // The archive's role-based access control role of the token, as RoleIDCode allows.
    roles: [...roles, ...(row.role ? [strataCode(row.role, `Strata role ${row.role}`)] : [])],
    networkAccessPoint: accessPoint(row.actorHost),
    mediaType: null,
  };
}

function archive(source: AuditSource, requestor: boolean, roles: CodedValue[]): Participant {
  return {
    part: 'archive',
    userId: source.aeTitle,
    requestor,
    roles,
    networkAccessPoint: accessPoint(source.host),
    mediaType: null,
  };
}

function peer(aeTitle: string, requestor: boolean, roles: CodedValue[]): Participant {
  return {
    part: 'peer',
    userId: aeTitle,
    requestor,
    roles,
    networkAccessPoint: null,
    mediaType: null,
  };
}

/** Whoever acted (requestor) and the archive, once when the archive itself acted. */
function actorAndArchive(row: AuditRow, source: AuditSource): Participant[] {
  if (row.actor === source.aeTitle) return [archive(source, true, [])];
  return [actor(row, true, []), archive(source, false, [])];
}

function accessPoint(host: string | null | undefined): Participant['networkAccessPoint'] {
  if (!host) return null;
  return { id: host, type: isIP(host) ? '2' : '1' };
}

function object(
  kind: ParticipantObject['kind'],
  id: string,
  typeCode: ParticipantObject['typeCode'],
): ParticipantObject {
  return {
    kind,
    id,
    typeCode,
    typeCodeRole: null,
    lifeCycle: null,
    idType: ID_TYPE.uri,
    name: null,
    query: null,
    details: [],
    instances: null,
  };
}

/** The study (type 2, role 3 Report, 110180) and its patient (type 1, role 1, ID type 2). */
function studyAndPatient(row: AuditRow, entry: CatalogEntry): ParticipantObject[] {
  const objects: ParticipantObject[] = [];
  if (row.studyInstanceUid) {
    const sopInstanceUid = str(row.detail?.sopInstanceUid);
    objects.push({
      ...object('study', row.studyInstanceUid, '2'),
      typeCodeRole: '3',
      lifeCycle: entry.lifeCycle ?? null,
      idType: ID_TYPE.studyInstanceUid,
      instances:
        row.instances === null
          ? null
          : {
              count: row.instances,
              sopClassUid: str(row.detail?.sopClassUid),
              sopInstanceUids: sopInstanceUid && row.instances <= 1 ? [sopInstanceUid] : [],
            },
    });
  }
  if (row.patientId) {
    objects.push({
      ...object('patient', row.patientId, '1'),
      typeCodeRole: '1',
      idType: ID_TYPE.patientNumber,
    });
  }
  return objects;
}

/**
 * The query object (A.5.3.13): a C-FIND is identified by its SOP Class, a QIDO-RS search by its
 * resource path. ParticipantObjectQuery carries what the trail knows of the query: its level and
 * the names of the keys (the values are never recorded: they may be patient names).
 */
function queryObject(row: AuditRow): ParticipantObject {
  const d = row.detail ?? {};
  const query = Buffer.from(
    JSON.stringify({
      protocol: d.protocol ?? null,
      ...(d.model ? { model: d.model } : {}),
      level: d.level ?? null,
      ...(row.studyInstanceUid ? { studyInstanceUid: row.studyInstanceUid } : {}),
      ...(d.seriesInstanceUid ? { seriesInstanceUid: d.seriesInstanceUid } : {}),
      keys: Array.isArray(d.keys) ? d.keys : [],
    }),
  ).toString('base64');
  const model = str(d.model);
  if (str(d.protocol)?.startsWith('DIMSE')) {
    return {
      ...object(
        'query',
        FIND_SOP_CLASS[model ?? 'study-root'] ?? FIND_SOP_CLASS['study-root']!,
        '2',
      ),
      typeCodeRole: '3',
      idType: ID_TYPE.sopClassUid,
      query,
    };
  }
  return {
    ...object('query', qidoPath(row), '2'),
    typeCodeRole: '24',
    idType: ID_TYPE.uri,
    query,
  };
}

function qidoPath(row: AuditRow): string {
  const level = str(row.detail?.level) ?? 'study';
  const series = str(row.detail?.seriesInstanceUid);
  const study = row.studyInstanceUid ? `/studies/${row.studyInstanceUid}` : '';
  if (level === 'series') return `/dicomweb${study}/series`;
  if (level === 'instance')
    return `/dicomweb${study}${series ? `/series/${series}` : ''}/instances`;
  return '/dicomweb/studies';
}

/** A Security Alert's subject: the refused node, the key, the policy, the job, the resource. */
function subjectOf(row: AuditRow): ParticipantObject[] {
  const d = row.detail ?? {};
  if (row.action === 'association.refused') {
    return [
      {
        ...object('subject', row.actorHost ?? row.actor, '2'),
        idType: ID_TYPE.nodeId,
        name: row.actor,
      },
    ];
  }
  const fingerprint = str(d.fingerprint);
  if (row.action.startsWith('key.') && fingerprint) {
    return [
      {
        ...object('subject', `openpgp4fpr:${fingerprint.toLowerCase()}`, '2'),
        typeCodeRole: '13',
      },
    ];
  }
  if (row.action.startsWith('policy.') && str(d.policyVersion)) {
    return [
      {
        ...object('subject', `urn:strata:policy:${str(d.policyVersion)}`, '2'),
        typeCodeRole: '13',
      },
    ];
  }
  if (row.action.startsWith('token.')) {
    const who = str(d.name) ?? str(d.token) ?? (d.id !== undefined ? String(d.id) : null);
    if (who) {
      return [
        { ...object('subject', who, '2'), typeCodeRole: '11', idType: ID_TYPE.userIdentifier },
      ];
    }
  }
  if (row.action.startsWith('config.') && str(d.version)) {
    return [
      { ...object('subject', `urn:strata:config:${str(d.version)}`, '2'), typeCodeRole: '13' },
    ];
  }
  if (row.action.startsWith('schedule.') && str(d.sweep)) {
    return [
      { ...object('subject', `urn:strata:schedule:${str(d.sweep)}`, '2'), typeCodeRole: '18' },
    ];
  }
  if (d.job !== undefined && d.job !== null) {
    return [{ ...object('subject', `urn:strata:job:${String(d.job)}`, '2'), typeCodeRole: '20' }];
  }
  const path = str(d.path);
  if (path) {
    return [
      { ...object('subject', path, '2'), name: str(d.method) ? `${d.method} ${path}` : null },
    ];
  }
  return [];
}

/**
 * DICOMweb (QIDO-RS, WADO-RS, STOW-RS) and API requests (the rows that name an HTTP method and
 * path) follow BALP's RESTful patterns; DIMSE, jobs and the CLI do not.
 */
function cameOverHttp(row: AuditRow): boolean {
  const d = row.detail ?? {};
  const protocol = str(d.protocol) ?? '';
  if (protocol.startsWith('DIMSE')) return false;
  if (/-RS$/.test(protocol) || protocol === 'HTTP') return true;
  if (d.adapter === 'stow-push') return true;
  return str(d.method) !== null && str(d.path) !== null;
}

function reasonOf(detail: Record<string, unknown> | null): string | null {
  if (!detail) return null;
  return str(detail.reason) ?? str(detail.error) ?? str(detail.problem) ?? null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}
