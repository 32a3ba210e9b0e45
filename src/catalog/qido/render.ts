import {
  type DicomJsonDataset,
  type DicomJsonElement,
  fillElement,
  withBulkDataUris,
} from '../dicom-json.js';
import { type PatientSearchStatement } from './patient-sql.js';
import { type ReturnField, type SearchStatement } from './search-sql.js';

/**
 * Values are decoded to Unicode at ingest and JSON is UTF-8, so every result declares ISO_IR 192
 * whatever character set the instances were received in.
 */
const UTF8_CHARSET: DicomJsonElement = { vr: 'CS', Value: ['ISO_IR 192'] };

export type SearchRow = Record<string, unknown>;

/** The URL of the resource a result row names (PS3.18 RetrieveURL). */
function resourceUrl(row: SearchRow, level: SearchStatement['level'], baseUrl: string): string {
  const study = `${baseUrl}/studies/${String(row._study_uid)}`;
  if (level === 'study') return study;
  const series = `${study}/series/${String(row._series_uid)}`;
  if (level === 'series') return series;
  return `${series}/instances/${String(row._sop_uid)}`;
}

function columnElement(
  vr: string,
  value: unknown,
  render: 'text' | 'pn' | 'number' | 'array',
): DicomJsonElement {
  if (value === null || value === undefined || value === '') return { vr };
  switch (render) {
    case 'array':
      return Array.isArray(value) && value.length > 0 ? { vr, Value: value } : { vr };
    case 'number':
      return { vr, Value: [Number(value)] };
    case 'pn': {
      // The catalog keeps the Alphabetic group; the stored metadata has all three.
      return { vr, Value: [{ Alphabetic: String(value) }] };
    }
    case 'text':
      return { vr, Value: [String(value)] };
  }
}

function field(
  row: SearchRow,
  f: ReturnField,
  level: SearchStatement['level'],
  baseUrl: string,
): DicomJsonElement | null {
  switch (f.source.kind) {
    case 'charset':
      return UTF8_CHARSET;
    case 'retrieve-url':
      return { vr: 'UR', Value: [resourceUrl(row, level, baseUrl)] };
    case 'column':
      return columnElement(f.vr!, row[f.tag], f.source.render);
    case 'metadata': {
      const stored = row[`m${f.tag}`] as DicomJsonElement | null | undefined;
      if (stored && typeof stored === 'object' && typeof stored.vr === 'string') {
        // Bulk data is only addressable on an instance; elsewhere the placeholder is dropped.
        const base = level === 'instance' ? `${resourceUrl(row, level, baseUrl)}/bulkdata` : null;
        return fillElement(f.tag, stored, base);
      }
      // Asked for but absent: an empty element when the VR is known (PS3.18 F.2.5).
      return f.vr ? { vr: f.vr } : null;
    }
  }
}

/**
 * One result row as a DICOM JSON object, attributes in tag order. `baseUrl` is the DICOMweb root
 * as the client reached it (e.g. 'https://vna.example/dicomweb').
 */
export function renderSearchRow(
  row: SearchRow,
  statement: SearchStatement,
  baseUrl: string,
): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  if (statement.allMetadata && row._metadata && typeof row._metadata === 'object') {
    Object.assign(
      out,
      withBulkDataUris(row._metadata as DicomJsonDataset, resourceUrl(row, 'instance', baseUrl)),
    );
  }
  for (const f of statement.fields) {
    const element = field(row, f, statement.level, baseUrl);
    if (element) out[f.tag] = element;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One patient search row as a DICOM JSON object (catalog columns only, already in tag order). */
export function renderPatientRow(
  row: SearchRow,
  statement: PatientSearchStatement,
): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  for (const f of statement.fields) {
    if (f.source.kind === 'column') out[f.tag] = columnElement(f.vr!, row[f.tag], f.source.render);
  }
  return out;
}
