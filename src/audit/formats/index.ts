import { type AuditRow } from '../audit-event.js';

/**
 * Renderings of an audit row for other systems. The DICOM PS3.15 Annex A.5 audit message (XML)
 * and the FHIR R4 AuditEvent following IHE BALP. (Placeholders until the renderers land.)
 */
export function renderDicomAuditMessage(row: AuditRow): string {
  throw new Error(`DICOM audit message rendering is not implemented yet (row ${row.seq})`);
}

export function renderFhirAuditEvent(row: AuditRow): Record<string, unknown> {
  throw new Error(`FHIR AuditEvent rendering is not implemented yet (row ${row.seq})`);
}
