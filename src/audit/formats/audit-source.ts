import { hostname } from 'node:os';

/** Who reports the events: this archive (AuditSourceIdentification, FHIR AuditEvent.source). */
export interface AuditSource {
  /** The archive's AE title: the AuditSourceID and the archive's UserID as a participant. */
  aeTitle: string;
  /** Its host name, the archive's network access point (absent: not stated). */
  host: string | null;
  /** AuditEnterpriseSiteID (the hospital or site), when configured. */
  siteId: string | null;
}

/** Used when a caller gives no source: STRATA_AET's default and this machine's name. */
export function defaultAuditSource(): AuditSource {
  return { aeTitle: 'STRATA', host: hostname(), siteId: null };
}

/** The source as the configuration names it (pass the result to the renderers). */
export function auditSourceOf(config: { dicom: { aeTitle: string } }): AuditSource {
  return { aeTitle: config.dicom.aeTitle, host: hostname(), siteId: null };
}
