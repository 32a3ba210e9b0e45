/**
 * Renderings of an audit row for other systems: the DICOM PS3.15 Annex A.5 audit message (XML)
 * and the FHIR R4 AuditEvent following IHE BALP. Both take an optional AuditSource (the archive's
 * AE title and host, see auditSourceOf); without one they name the archive STRATA on this host.
 */
export { auditSourceOf, defaultAuditSource, type AuditSource } from './audit-source.js';
export { renderDicomAuditMessage } from './dicom-audit-message.js';
export { EVENT_CATALOG, catalogEntryOf } from './event-catalog.js';
export { renderFhirAuditEvent } from './fhir-audit-event.js';
