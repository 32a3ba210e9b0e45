import { randomBytes } from 'node:crypto';

/** Builds a STOW-RS request body: multipart/related; type="application/dicom". */
export function stowBody(
  parts: Buffer[],
  partType = 'application/dicom',
): { body: Buffer; contentType: string } {
  const boundary = `strata-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${partType}\r\n\r\n`));
    chunks.push(part);
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

/** POSTs parts to /dicomweb/studies[/{study}] and returns status and parsed JSON (if any). */
export async function stow(
  httpUrl: string,
  auth: string,
  parts: Buffer[],
  study?: string,
): Promise<{
  status: number;
  json: Record<string, { vr: string; Value?: unknown[] }> | null;
  text: string;
}> {
  const { body, contentType } = stowBody(parts);
  const res = await fetch(`${httpUrl}/dicomweb/studies${study ? `/${study}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': contentType, authorization: auth, accept: 'application/dicom+json' },
    body,
  });
  const text = await res.text();
  let json = null;
  try {
    if (text) json = JSON.parse(text);
  } catch {
    /* not JSON: callers look at `text` */
  }
  return { status: res.status, json, text };
}
