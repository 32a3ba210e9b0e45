import { Readable } from 'node:stream';
import { type Database } from '../../../database/index.js';
import { type IngestResult } from '../../ingest-request.js';
import { type IngestionService } from '../../ingestion.service.js';
import { PullCheckpointRepository } from '../pull/pull-checkpoint.repository.js';
import {
  countIngest,
  emptyPullResult,
  isTransientRefusal,
  type PullResult,
} from '../pull/pull-result.js';
import { boundaryOf, eachPart } from './multipart-parts.js';

export const DICOMWEB_PULL = 'dicomweb-pull';

export interface DicomwebPullSource {
  name: string;
  /** The server's DICOMweb root, e.g. http://pacs:8042/dicom-web */
  url: string;
  /** Extra QIDO-RS study query keys, e.g. { StudyDate: '20200101-20201231', ModalitiesInStudy: 'CT' }. */
  query?: Record<string, string>;
  /** Sent as the Authorization header (e.g. 'Bearer …' or 'Basic …'). */
  authorization?: string;
}

interface Cursor {
  /** Studies pulled whole, with the instance count the server reported then. */
  studies: Record<string, number>;
}

/** Studies asked per QIDO-RS page. */
const PAGE = 100;

class PullError extends Error {}

/**
 * The dicomweb-pull adapter: QIDO-RS for the studies the source's query matches, then WADO-RS for
 * each study not pulled yet (or whose instance count grew), every part into the one ingestion
 * pipeline. The checkpoint records each study once all its instances are in, so a run stopped by
 * a crash or by the server going away goes on with the studies left; a second run fetches nothing.
 */
export class DicomwebPuller {
  private readonly checkpoints = new PullCheckpointRepository();

  constructor(
    private readonly db: Database,
    private readonly ingestion: IngestionService,
    /** Sees every pipeline result (the adapter's counters). */
    private readonly observe?: (source: string, outcome: IngestResult) => void,
  ) {}

  async pull(
    source: DicomwebPullSource,
    onProgress?: (r: PullResult) => void,
    signal?: AbortSignal,
  ): Promise<PullResult> {
    const base = source.url.replace(/\/+$/, '');
    const cursor = (await this.checkpoints.get<Cursor>(this.db, source.name)) ?? { studies: {} };
    const result = emptyPullResult(source.name, DICOMWEB_PULL, {
      studies: Object.keys(cursor.studies).length,
    });
    const headers: Record<string, string> = source.authorization
      ? { authorization: source.authorization }
      : {};
    try {
      for (let offset = 0; ; offset += PAGE) {
        const params = new URLSearchParams({
          ...(source.query ?? {}),
          includefield: '00201208',
          limit: String(PAGE),
          offset: String(offset),
        });
        const studies = await this.json(`${base}/studies?${params}`, headers);
        for (const study of studies) {
          if (signal?.aborted) throw new PullError('stopped');
          const uid = study['0020000D']?.Value?.[0];
          const count = Number(study['00201208']?.Value?.[0] ?? 0);
          if (typeof uid !== 'string' || !/^[0-9.]{1,64}$/.test(uid)) continue;
          if (uid in cursor.studies && cursor.studies[uid]! >= count) continue;
          await this.pullStudy(base, uid, headers, source, result, onProgress);
          cursor.studies[uid] = count;
          await this.checkpoints.save(this.db, source.name, DICOMWEB_PULL, cursor);
        }
        if (studies.length < PAGE) break;
      }
    } catch (error) {
      result.error = error instanceof Error ? error.message : String(error);
    }
    result.cursor = { studies: Object.keys(cursor.studies).length };
    return result;
  }

  private async pullStudy(
    base: string,
    uid: string,
    headers: Record<string, string>,
    source: DicomwebPullSource,
    result: PullResult,
    onProgress?: (r: PullResult) => void,
  ): Promise<void> {
    const res = await this.fetch(`${base}/studies/${uid}`, {
      ...headers,
      accept: 'multipart/related; type="application/dicom"',
    });
    const boundary = boundaryOf(res.headers.get('content-type'));
    if (!boundary) throw new PullError(`WADO-RS of a study did not answer multipart/related`);
    const body = Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream);
    await eachPart(body, boundary, async (part) => {
      let bytes = 0;
      part.on('data', (chunk: Buffer) => (bytes += chunk.length));
      const outcome = await this.ingestion.ingest({
        adapter: DICOMWEB_PULL,
        source: source.name,
        actor: `${DICOMWEB_PULL}:${source.name}`,
        callingAet: null,
        remoteHost: new URL(base).host,
        framing: 'part10',
        data: part,
        expected: { studyInstanceUid: uid },
      });
      if (isTransientRefusal(outcome)) {
        throw new PullError(
          `an instance could not be stored now: ${outcome.ok ? '' : outcome.message}`,
        );
      }
      countIngest(result, outcome, bytes);
      this.observe?.(source.name, outcome);
      onProgress?.(result);
    });
  }

  private async json(
    url: string,
    headers: Record<string, string>,
  ): Promise<Record<string, { Value?: unknown[] }>[]> {
    const res = await this.fetch(url, { ...headers, accept: 'application/dicom+json' });
    if (res.status === 204) return [];
    const body = (await res.json().catch(() => null)) as unknown;
    if (!Array.isArray(body)) throw new PullError('QIDO-RS answered something that is not a list');
    return body as Record<string, { Value?: unknown[] }>[];
  }

  private async fetch(url: string, headers: Record<string, string>): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(300_000) });
    } catch (error) {
      throw new PullError(
        `${new URL(url).host} is unreachable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new PullError(`${new URL(url).pathname}: HTTP ${res.status}`);
    }
    return res;
  }
}
