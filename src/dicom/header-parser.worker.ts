import { parentPort } from 'node:worker_threads';
import { DicomFormatError, type DicomFormatErrorReason } from './errors.js';
import type { CapturedBulk } from './header-capture.js';
import { parseHeaderSync, type ParsedHeader } from './parse-header.js';

/**
 * The worker side of HeaderParserPool: parses one header per message with dcmjs, off the main
 * thread, so that the pool can bound its time (terminate) and memory (resourceLimits). Messages
 * carry only the header bytes (transferred) and the parsed result.
 */

export interface ParseRequest {
  id: number;
  /** The header bytes, transferred (not copied) from the pool. */
  headerBytes: ArrayBuffer;
  transferSyntaxUid: string;
  bulk?: Pick<CapturedBulk, 'tag' | 'vr'> & Partial<CapturedBulk>;
}

export type ParseResponse =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; result: ParsedHeader }
  | { type: 'result'; id: number; ok: false; reason: DicomFormatErrorReason; message: string };

const port = parentPort;
if (!port) throw new Error('header-parser.worker must run in a worker thread');

port.on('message', (request: ParseRequest) => {
  let response: ParseResponse;
  try {
    const result = parseHeaderSync(
      Buffer.from(request.headerBytes),
      request.transferSyntaxUid,
      request.bulk,
    );
    response = { type: 'result', id: request.id, ok: true, result };
  } catch (err) {
    response =
      err instanceof DicomFormatError
        ? { type: 'result', id: request.id, ok: false, reason: err.reason, message: err.message }
        : {
            type: 'result',
            id: request.id,
            ok: false,
            reason: 'parse-failed',
            // Unexpected errors may quote data: only their class goes back.
            message: `the header parser failed (${err instanceof Error ? err.name : 'error'})`,
          };
  }
  port.postMessage(response);
});

port.postMessage({ type: 'ready' } satisfies ParseResponse);
