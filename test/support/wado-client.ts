import { expect } from 'vitest';
import { datasetOf, parseMultipart } from './multipart.js';
import { stow } from './stow-client.js';

interface InstanceUids {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

/** WADO-RS of one instance, in its stored transfer syntax: the data set bytes (meta removed). */
export async function retrieveDataset(
  httpUrl: string,
  auth: string,
  i: InstanceUids,
): Promise<Buffer> {
  const res = await fetch(
    `${httpUrl}/dicomweb/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`,
    {
      headers: {
        authorization: auth,
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
      },
    },
  );
  expect(res.status).toBe(200);
  const [part] = parseMultipart(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type')!,
  );
  return datasetOf(part!.body);
}

/** STOW-RS of Part 10 files that must all be stored (200). */
export async function stowAll(httpUrl: string, auth: string, files: Buffer[]): Promise<void> {
  expect((await stow(httpUrl, auth, files)).status).toBe(200);
}

/** A JSON call to the archive's /api, with the test token; the body parsed, or null. */
export async function callApi(
  target: { httpUrl: string; auth: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${target.httpUrl}${path}`, {
    method,
    headers: { authorization: target.auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as Record<string, unknown>,
  };
}

/** Polls GET /api/jobs/{id} until the job is done or failed; the job as it ended. */
export async function waitForJob(
  target: { httpUrl: string; auth: string },
  id: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { body } = await callApi(target, 'GET', `/api/jobs/${id}`);
    if (body.status === 'done' || body.status === 'failed') return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} did not end within ${timeoutMs} ms`);
}
