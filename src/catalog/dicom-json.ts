import { type DicomJsonElement } from '../dicom/index.js';

/** One element of the DICOM JSON model (PS3.18 F.2), as the dicom context parses it. */
export type { DicomJsonElement };

export type DicomJsonDataset = Record<string, DicomJsonElement>;

const MAX_DEPTH = 64;

/**
 * A copy of stored metadata with every `BulkDataURI: ''` placeholder (left by ingest for large
 * binary values) replaced by the URL that serves the value:
 * `{instanceUrl}/bulkdata/{tag}` at the top level, and `{instanceUrl}/bulkdata/{sq}/{item}/{tag}`
 * inside sequences (item numbers from 0). With `instanceUrl` null the placeholder is dropped and
 * the element keeps only its VR (used where no instance is named, e.g. study-level QIDO).
 */
export function withBulkDataUris(
  dataset: DicomJsonDataset,
  instanceUrl: string | null,
): DicomJsonDataset {
  return fill(dataset, instanceUrl === null ? null : `${instanceUrl}/bulkdata`, 0);
}

function fill(dataset: DicomJsonDataset, base: string | null, depth: number): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  for (const [tag, element] of Object.entries(dataset)) {
    out[tag] = fillElement(tag, element, base, depth);
  }
  return out;
}

/** One element, placeholders inside it filled (see {@link withBulkDataUris}). */
export function fillElement(
  tag: string,
  element: DicomJsonElement,
  base: string | null,
  depth = 0,
): DicomJsonElement {
  if (element.BulkDataURI === '') {
    return base === null ? { vr: element.vr } : { vr: element.vr, BulkDataURI: `${base}/${tag}` };
  }
  if (element.vr === 'SQ' && Array.isArray(element.Value) && depth < MAX_DEPTH) {
    return {
      vr: element.vr,
      Value: element.Value.map((item, i) =>
        item && typeof item === 'object'
          ? fill(item as DicomJsonDataset, base === null ? null : `${base}/${tag}/${i}`, depth + 1)
          : item,
      ),
    };
  }
  return element;
}
