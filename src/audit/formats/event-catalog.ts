import { type AuditRow } from '../audit-event.js';
import { type CodedValue, EVENT_ID, EVENT_TYPE } from './codes.js';

/** EventActionCode (PS3.15 A.5.1): Create, Read, Update, Delete, Execute. */
export type ActionCode = 'C' | 'R' | 'U' | 'D' | 'E';

/**
 * Which participants and participant objects a message carries (PS3.15 A.5.3 gives them per
 * event): the renderers build each shape the same way whatever the action.
 */
export type MessageShape =
  /** Instances received: the sender is the Source, the archive the Destination. */
  | 'store'
  /** Instances read from media (a folder): Source Media, the archive the Destination. */
  | 'import'
  /** A query: the requester is the Source, the archive the Destination (A.5.3.13). */
  | 'query'
  /** Instances sent: the archive is the Source, the receiver (or C-MOVE destination) the Destination. */
  | 'retrieve'
  /** Instances written to media (a folder): the archive is the Source, the media the Destination. */
  | 'export'
  /** Instances read, changed or removed in place by a person or process (A.5.3.6, A.5.3.8). */
  | 'study'
  /** A security-relevant change or refusal; its subject is a node, a key, a policy or a job. */
  | 'security-alert'
  /** A log-on attempt (A.5.3.12). */
  | 'authentication'
  /** Someone read the audit trail itself (A.5.3.2). */
  | 'audit-log-used'
  /** The archive (or one of its services) started or stopped (A.5.3.1). */
  | 'application'
  /** A Storage Commitment request (received) or report (sent): a transfer of responsibility. */
  | 'commitment';

/** The FHIR RESTful interaction (BALP pattern) of an event, when it came over HTTP. */
export type RestInteraction = 'create' | 'read' | 'update' | 'delete' | 'search';

export interface CatalogEntry {
  event: CodedValue;
  /** EventTypeCode values the standard gives for this event (the Strata action is added to them). */
  types: CodedValue[];
  action: ActionCode;
  shape: MessageShape;
  /** ParticipantObjectDataLifeCycle of the study object (A.5.1.2.3), when it says something. */
  lifeCycle?: string;
  /** BALP pattern when the event came over HTTP (DICOMweb or the admin API). */
  rest: RestInteraction | null;
}

const entry = (
  event: CodedValue,
  action: ActionCode,
  shape: MessageShape,
  more: Partial<Pick<CatalogEntry, 'types' | 'lifeCycle' | 'rest'>> = {},
): CatalogEntry => ({ event, action, shape, types: [], rest: null, ...more });

const configuration = entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
  types: [EVENT_TYPE.softwareConfiguration],
  rest: 'update',
});
const keyChange = entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
  types: [EVENT_TYPE.objectSecurityAttributesChanged],
  rest: 'update',
});
/** A maintenance job that ran and ended (its row is written when it ends, with its counts). */
const jobEnded = entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
  types: [EVENT_TYPE.localServiceOperationStopped],
});
/** A node took over a job whose holder stopped renewing its lease (multi-node): it goes on here. */
const jobTakenOver = entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
  types: [EVENT_TYPE.localServiceOperationStarted],
});
const tokenChange = entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
  types: [EVENT_TYPE.userSecurityAttributesChanged],
  rest: 'update',
});

/**
 * Every action the archive records, and the DICOM event it is. Why each:
 * - instance.stored: PS3.15 A.5.3.7, C if new, U for a new version, R for identical bytes already
 *   held; from a folder (folder-import) it is an Import (A.5.3.5) instead.
 * - study.queried: Query (A.5.3.13), EventActionCode E as the standard fixes it.
 * - study.retrieved: the archive sent instances, Instances Transferred with R (the archive does not
 *   know what the receiver held); metadata alone is Instances Accessed.
 * - study.exported: Export (A.5.3.4) to a folder (the media, addressed by URI).
 * - study.moved, study.recall-requested: the archive changes where it keeps its own copies (U).
 * - study.restore-requested: copies in an archive storage class made readable (R).
 * - study.expired: logical deletion (the study is hidden, purged after a grace period): Instances
 *   Accessed with D and life cycle 14; study.purged is the DICOM Study Deleted (A.5.3.8), life
 *   cycle 15 (erasure). study.delete-requested is a deletion that a legal hold refused.
 * - hold.placed/released: the study's protection against deletion changes: Instances Accessed, U.
 * - location.fixity-failed: a stored copy read back and found missing or corrupt (R, failure);
 *   location.repaired: the copy rewritten from a good one (U).
 * - association.refused: Security Alert, Node Authentication (a peer the archive does not accept).
 * - auth.*: User Authentication, Login (failed: a 401; succeeded: once per session);
 *   permission.denied (a 403, the wrong role) is a Security Alert, Use of Restricted Function.
 * - key.*: Security Alert, Object Security Attributes Changed (who can decrypt the studies).
 * - policy.changed, policy.reloaded, tls.certificate-reloaded, schedule.*, config.*: Security Alert, Software Configuration.
 * - token.*: Security Alert, User Security Attributes Changed; role changes: Security Roles Changed.
 * - fixity.checked, lifecycle.*-sweep: a maintenance job ended: Local Service Operation Stopped.
 * - job.taken-over: a node goes on with a job whose node stopped: Local Service Operation Started.
 * - storage.commitment-*: the archive took (or reported taking) responsibility for instances:
 *   Instances Transferred with R and life cycle 4 (verification), as dcm4chee does.
 * - audit.*: Audit Log Used (A.5.3.2).
 */
export const EVENT_CATALOG: Readonly<Record<string, CatalogEntry>> = {
  'instance.stored': entry(EVENT_ID.instancesTransferred, 'C', 'store', {
    lifeCycle: '1',
    rest: 'create',
  }),
  'study.queried': entry(EVENT_ID.query, 'E', 'query', { rest: 'search' }),
  'study.retrieved': entry(EVENT_ID.instancesTransferred, 'R', 'retrieve', { rest: 'read' }),
  'study.exported': entry(EVENT_ID.export, 'R', 'export', { lifeCycle: '10' }),
  'study.moved': entry(EVENT_ID.instancesAccessed, 'U', 'study', { lifeCycle: '13' }),
  'study.recall-requested': entry(EVENT_ID.instancesAccessed, 'U', 'study', { rest: 'update' }),
  'study.restore-requested': entry(EVENT_ID.instancesAccessed, 'R', 'study', { rest: 'read' }),
  'study.expired': entry(EVENT_ID.instancesAccessed, 'D', 'study', {
    lifeCycle: '14',
    rest: 'delete',
  }),
  'study.delete-requested': entry(EVENT_ID.instancesAccessed, 'D', 'study', {
    lifeCycle: '14',
    rest: 'delete',
  }),
  'study.purged': entry(EVENT_ID.studyDeleted, 'D', 'study', { lifeCycle: '15', rest: 'delete' }),
  'hold.placed': entry(EVENT_ID.instancesAccessed, 'U', 'study', { rest: 'update' }),
  'hold.released': entry(EVENT_ID.instancesAccessed, 'U', 'study', { rest: 'update' }),
  'location.fixity-failed': entry(EVENT_ID.instancesAccessed, 'R', 'study', { lifeCycle: '4' }),
  'location.repaired': entry(EVENT_ID.instancesAccessed, 'U', 'study', { lifeCycle: '13' }),
  'association.refused': entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
    types: [EVENT_TYPE.nodeAuthentication],
  }),
  'auth.failed': entry(EVENT_ID.userAuthentication, 'E', 'authentication', {
    types: [EVENT_TYPE.login],
  }),
  'auth.succeeded': entry(EVENT_ID.userAuthentication, 'E', 'authentication', {
    types: [EVENT_TYPE.login],
  }),
  'auth.denied': entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
    types: [EVENT_TYPE.useOfRestrictedFunction],
  }),
  'access.denied': entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
    types: [EVENT_TYPE.useOfRestrictedFunction],
  }),
  'permission.denied': entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
    types: [EVENT_TYPE.useOfRestrictedFunction],
  }),
  'key.recipient-added': keyChange,
  'key.retired': keyChange,
  'key.rewrapped': keyChange,
  'key.rotated': keyChange,
  'policy.changed': configuration,
  'policy.reloaded': configuration,
  'config.changed': configuration,
  'tls.certificate-reloaded': configuration,
  'schedule.paused': configuration,
  'schedule.resumed': configuration,
  'token.created': tokenChange,
  'token.revoked': tokenChange,
  'token.role-changed': entry(EVENT_ID.securityAlert, 'E', 'security-alert', {
    types: [EVENT_TYPE.securityRolesChanged],
    rest: 'update',
  }),
  'fixity.checked': jobEnded,
  'job.taken-over': jobTakenOver,
  'lifecycle.retention-sweep': jobEnded,
  'lifecycle.tiering-sweep': jobEnded,
  'lifecycle.purge-sweep': jobEnded,
  'storage.commitment-requested': entry(EVENT_ID.instancesTransferred, 'R', 'commitment', {
    lifeCycle: '4',
  }),
  'storage.commitment-reported': entry(EVENT_ID.instancesTransferred, 'R', 'commitment', {
    lifeCycle: '4',
  }),
  'audit.queried': entry(EVENT_ID.auditLogUsed, 'R', 'audit-log-used', { rest: 'search' }),
  'audit.exported': entry(EVENT_ID.auditLogUsed, 'R', 'audit-log-used', { rest: 'read' }),
  'audit.verified': entry(EVENT_ID.auditLogUsed, 'R', 'audit-log-used', { rest: 'read' }),
  'application.started': entry(EVENT_ID.applicationActivity, 'E', 'application', {
    types: [EVENT_TYPE.applicationStart],
  }),
  'application.stopped': entry(EVENT_ID.applicationActivity, 'E', 'application', {
    types: [EVENT_TYPE.applicationStop],
  }),
};

/**
 * Actions the table does not name yet (new ones appear as the archive grows) get the event of
 * their family, so that nothing is ever rendered without an event; the private 99STRATA event type
 * code every message carries still names the exact action.
 */
const FAMILIES: [prefix: string, entry: CatalogEntry][] = [
  ['audit.', entry(EVENT_ID.auditLogUsed, 'R', 'audit-log-used', { rest: 'read' })],
  ['auth.', EVENT_CATALOG['auth.failed']!],
  ['token.', tokenChange],
  ['key.', keyChange],
  ['policy.', configuration],
  ['config.', configuration],
  ['schedule.', configuration],
  ['access.', EVENT_CATALOG['access.denied']!],
  ['permission.', EVENT_CATALOG['permission.denied']!],
  ['lifecycle.', jobEnded],
  ['fixity.', jobEnded],
  ['hold.', EVENT_CATALOG['hold.placed']!],
  ['location.', EVENT_CATALOG['location.repaired']!],
  ['study.', entry(EVENT_ID.instancesAccessed, 'R', 'study')],
  ['instance.', entry(EVENT_ID.instancesAccessed, 'R', 'study')],
];
const FALLBACK = configuration;

/** The catalog entry of a row, refined by what the row says (how it was stored, what was read). */
export function catalogEntryOf(row: Pick<AuditRow, 'action' | 'detail'>): CatalogEntry {
  const base =
    EVENT_CATALOG[row.action] ??
    FAMILIES.find(([prefix]) => row.action.startsWith(prefix))?.[1] ??
    FALLBACK;
  const detail = row.detail ?? {};
  if (row.action === 'instance.stored') {
    if (detail.adapter === 'folder-import') {
      return { ...base, event: EVENT_ID.import, shape: 'import', lifeCycle: '2', rest: null };
    }
    const action: ActionCode =
      detail.outcome === 'new-version' ? 'U' : detail.outcome === 'duplicate' ? 'R' : 'C';
    return { ...base, action };
  }
  if (row.action === 'study.retrieved' && detail.kind === 'metadata') {
    return { ...base, event: EVENT_ID.instancesAccessed };
  }
  return base;
}

/** Whether an action has its own row in the table (not a family's or the fallback's entry). */
export function isCatalogued(action: string): boolean {
  return Object.hasOwn(EVENT_CATALOG, action);
}
