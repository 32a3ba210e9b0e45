import { type AuditRow } from '../audit-event.js';
import { type AuditSource, catalogEntryOf, renderDicomAuditMessage } from '../formats/index.js';
import { type Pseudonymizer, pseudonymizeRow } from './pseudonymize.js';
import { octetCounted, syslogMessage } from './syslog-message.js';

/**
 * Strata's SD-ID: an enterprise-specific SD-ID is NAME@<private enterprise number> (RFC 5424
 * 6.3.2); 32473 is the number IANA reserves for examples and documentation (RFC 5612), used until
 * the project registers its own. Its `seq` parameter is the audit row's position in the chain, so
 * a collector recognises a message delivered twice.
 */
export const STRATA_SD_ID = 'strata@32473';

/** Facility 10, security/authorization, as IHE ATNA sends audit records. */
const FACILITY = 10;

export interface AuditSyslogOptions {
  source: AuditSource;
  /** HOSTNAME: the sending machine. */
  hostname: string;
  /** Set when the output is pseudonymised. */
  pseudonymize: Pseudonymizer | null;
}

/**
 * One audit row as a framed syslog message: APP-NAME strata, MSGID the DICOM event ID (110104...),
 * TIMESTAMP the event's time (so that a message sent again is the same bytes), severity notice for
 * a success and warning otherwise, [strata@32473 seq="..." hash="..."] (the chain hash only when
 * not pseudonymised: it is a digest of the patient ID among the rest), and the DICOM PS3.15 audit
 * message as MSG.
 */
export function auditSyslogFrame(row: AuditRow, o: AuditSyslogOptions): Buffer {
  const shown = o.pseudonymize ? pseudonymizeRow(row, o.pseudonymize) : row;
  const params: [string, string][] = [['seq', String(row.seq)]];
  if (!o.pseudonymize) params.push(['hash', row.hash]);
  return octetCounted(
    syslogMessage(
      {
        facility: FACILITY,
        severity: row.outcome === 'success' ? 5 : 4,
        timestamp: row.at,
        hostname: o.hostname,
        appName: 'strata',
        procId: null,
        msgId: catalogEntryOf(row).event.code,
      },
      [{ id: STRATA_SD_ID, params }],
      renderDicomAuditMessage(shown, o.source),
    ),
  );
}
