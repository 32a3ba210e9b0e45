import { type Readable, type Writable } from 'node:stream';

/** The client went away (or the response failed) while we were still writing. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  constructor() {
    super('the response closed before it was complete');
  }
}

/**
 * Writes one chunk and waits while the socket's buffer is full, so a slow client slows the
 * read from storage instead of growing memory.
 */
export async function writeChunk(out: Writable, chunk: Buffer | string): Promise<void> {
  if (out.destroyed || out.writableEnded) throw new ClientGoneError();
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new ClientGoneError());
    out.once('drain', onDrain);
    out.once('close', onClose);
    out.once('error', onClose);
  });
}

/**
 * Copies `source` into `out` without ending `out`, honouring backpressure both ways. If either
 * side fails, `source` is destroyed (closing the storage read) and the error is thrown.
 */
export async function pump(source: Readable, out: Writable): Promise<number> {
  let bytes = 0;
  try {
    for await (const chunk of source) {
      await writeChunk(out, chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } finally {
    if (!source.destroyed) source.destroy();
  }
  return bytes;
}
