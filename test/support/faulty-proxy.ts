import { createServer, request, type IncomingMessage } from 'node:http';
import { type AddressInfo } from 'node:net';

export type Fault = { status: number; code: string } | 'hang' | 'reset' | null;

/**
 * An HTTP proxy in front of a real server (s3rver) that injects faults: an S3 error status with
 * its XML body (503 SlowDown, 500 InternalError...), a request that never gets an answer, or a
 * connection reset. `decide` is asked for every request, with its running number (from 1).
 */
export async function startFaultyProxy(
  target: string,
  decide: (req: IncomingMessage, n: number) => Fault,
  /** Answer every ETag as one that is not the MD5 of the object (as with SSE-KMS on AWS). */
  options: { opaqueEtags?: boolean } = {},
): Promise<{ endpoint: string; requests: () => number; close: () => Promise<void> }> {
  const upstream = new URL(target);
  let count = 0;
  const server = createServer((req, res) => {
    const fault = decide(req, ++count);
    if (fault === 'hang') return; // the client's timeout has to deal with it
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault) {
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code>` +
            `<Message>injected</Message></Error>`,
        );
      });
      return;
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        const headers = { ...up.headers };
        if (options.opaqueEtags && headers.etag) headers.etag = '"opaque-etag-not-an-md5"';
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
