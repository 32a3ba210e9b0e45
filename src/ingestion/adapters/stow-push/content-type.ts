/** Parses `multipart/related; type="application/dicom"; boundary=...` (RFC 2387, PS3.18 8.6.1.2). */
export interface MultipartRelated {
  boundary: string;
  type: string | null;
}

export type ContentTypeCheck =
  { ok: true; value: MultipartRelated } | { ok: false; status: 400 | 415; detail: string };

function params(header: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (let m = re.exec(header); m; m = re.exec(header)) {
    let v = m[2]!.trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out.set(m[1]!.toLowerCase(), v);
  }
  return out;
}

export function checkStowContentType(header: string | undefined): ContentTypeCheck {
  if (!header)
    return {
      ok: false,
      status: 415,
      detail: 'Content-Type multipart/related; type="application/dicom" is required',
    };
  const media = header.split(';')[0]!.trim().toLowerCase();
  if (media !== 'multipart/related') {
    return {
      ok: false,
      status: 415,
      detail: `media type ${media} is not supported; use multipart/related; type="application/dicom"`,
    };
  }
  const p = params(header);
  const type = p.get('type')?.toLowerCase() ?? null;
  if (type !== null && type !== 'application/dicom') {
    return {
      ok: false,
      status: 415,
      detail: `multipart/related type ${type} is not supported; use application/dicom`,
    };
  }
  const boundary = p.get('boundary');
  if (!boundary || boundary.length > 70) {
    return {
      ok: false,
      status: 400,
      detail: 'the multipart boundary parameter is missing or longer than 70 characters',
    };
  }
  return { ok: true, value: { boundary, type } };
}
