import { HttpException } from '@nestjs/common';
import { type Request } from 'express';

/** The app keeps request bodies unparsed (STOW-RS streams): small JSON bodies are read here. */
export async function readJsonBody(req: Request, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpException({ message: `the body is over ${limit} bytes` }, 413);
    chunks.push(chunk);
  }
  if (size === 0) return null;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw badRequest('the body is not valid JSON');
  }
}

export function badRequest(detail: string): HttpException {
  return new HttpException({ message: detail }, 400);
}

export function notFound(detail: string): HttpException {
  return new HttpException({ message: detail }, 404);
}
