/**
 * Content negotiation for DICOMweb (PS3.18 8.7): parsing the Accept header and deciding what a
 * resource can answer with. Strata never transcodes, so "acceptable" means "as stored".
 */

export interface MediaRange {
  /** 'multipart/related', 'application/dicom+json', '*\/*'... (lower-case) */
  type: string;
  /** Parameter names lower-case; values unquoted. */
  params: Map<string, string>;
  q: number;
}

/** Splits on `sep` outside double quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

/** The media ranges of an Accept header; those with q=0 ("not acceptable") are dropped. */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [];
  const ranges: MediaRange[] = [];
  for (const item of splitOutsideQuotes(header, ',')) {
    const [type, ...rest] = splitOutsideQuotes(item, ';').map((p) => p.trim());
    if (!type) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      let value = p.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
        value = value.slice(1, -1).replace(/\\(.)/g, '$1');
      if (name === 'q') q = Number(value);
      else params.set(name, value);
    }
    if (!(q > 0)) continue;
    ranges.push({ type: type.toLowerCase(), params, q });
  }
  return ranges;
}

const ANY = new Set(['*/*']);

/** No Accept header (or an empty one) means anything is acceptable (RFC 9110 12.5.1). */
function absent(header: string | undefined): boolean {
  return header === undefined || header.trim() === '';
}

/** For QIDO-RS and /metadata: the JSON media type to answer with, or null (406). */
export function negotiateJson(
  header: string | undefined,
): 'application/dicom+json' | 'application/json' | null {
  if (absent(header)) return 'application/dicom+json';
  const ranges = parseAccept(header);
  const types = new Set(ranges.map((r) => r.type));
  if (
    types.has('application/dicom+json') ||
    types.has('application/*') ||
    [...types].some((t) => ANY.has(t))
  ) {
    return 'application/dicom+json';
  }
  return types.has('application/json') ? 'application/json' : null;
}

/** Which stored transfer syntaxes a client accepts for instances: any, or a list of UIDs. */
export type TransferSyntaxChoice = { any: true } | { any: false; uids: Set<string> };

/**
 * For WADO-RS instance retrieval: `multipart/related; type="application/dicom"` with an optional
 * `transfer-syntax` (a UID or '*'), or a wildcard. A missing transfer-syntax is taken as "as
 * stored": PS3.18 makes it mean Explicit VR Little Endian, but Strata does not transcode, so the
 * strict reading would only turn those (common) requests into 406s. Null: nothing acceptable.
 */
export function negotiateDicomInstances(header: string | undefined): TransferSyntaxChoice | null {
  return negotiateMultipart(header, 'application/dicom');
}

/**
 * For bulk data: `multipart/related; type="application/octet-stream"` (transfer-syntax absent,
 * '*', or Explicit VR Little Endian, whose byte order native values have), or a wildcard.
 */
export function negotiateBulkData(header: string | undefined): boolean {
  const choice = negotiateMultipart(header, 'application/octet-stream');
  return choice !== null && (choice.any || choice.uids.has('1.2.840.10008.1.2.1'));
}

function negotiateMultipart(
  header: string | undefined,
  partType: string,
): TransferSyntaxChoice | null {
  if (absent(header)) return { any: true };
  const ranges = parseAccept(header);
  const uids = new Set<string>();
  for (const r of ranges) {
    if (r.type === '*/*' || r.type === 'multipart/*') return { any: true };
    if (r.type !== 'multipart/related') continue;
    const type = r.params.get('type')?.toLowerCase();
    if (type !== undefined && type !== partType) continue;
    const ts = r.params.get('transfer-syntax');
    if (ts === undefined || ts === '*') return { any: true };
    uids.add(ts);
  }
  return uids.size > 0 ? { any: false, uids } : null;
}
