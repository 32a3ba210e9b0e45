import Dicer from 'dicer';
import { type Readable } from 'node:stream';

/** The boundary of a multipart/related content type, or null. */
export function boundaryOf(contentType: string | null): string | null {
  if (!contentType || !/^multipart\/related/i.test(contentType)) return null;
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  return m ? m[1]! : null;
}

/**
 * Hands each part of a multipart body to `onPart`, one at a time and in order (the body waits
 * meanwhile: backpressure); resolves once every part is handled, rejects on a malformed body.
 */
export function eachPart(
  body: Readable,
  boundary: string,
  onPart: (part: Readable, contentType: string | null) => Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const parser = new Dicer({ boundary, maxHeaderPairs: 100 });
    let chain: Promise<void> = Promise.resolve();
    let parts = 0;
    let failed: unknown = null;
    parser.on(
      'part',
      (
        part: Readable & { on(event: 'header', cb: (h: Record<string, string[]>) => void): void },
      ) => {
        let type: string | null = null;
        part.on('error', () => undefined);
        part.on('header', (h) => (type = h['content-type']?.[0] ?? null));
        parts++;
        chain = chain.then(async () => {
          if (failed) {
            part.resume();
            return;
          }
          try {
            await onPart(part, type);
          } catch (error) {
            failed = error;
            part.resume();
          }
        });
      },
    );
    parser.on('error', (e: Error) => reject(e));
    parser.on('finish', () => {
      chain.then(
        () => (failed ? reject(failed) : resolve(parts)),
        (e: unknown) => reject(e),
      );
    });
    body.on('error', (e) => parser.destroy?.(e));
    body.pipe(parser);
  });
}
