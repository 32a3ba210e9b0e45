import { Injectable, Logger } from '@nestjs/common';
import { type Response } from 'express';
import {
  CatalogReadService,
  type RetrievableInstance,
  type RetrievalFilter,
  withBulkDataUris,
} from '../catalog/index.js';
import { type Requester } from './http.js';
import { RetrievalAudit } from './retrieval-audit.service.js';
import { writeChunk } from './stream-writing.js';
import { logStop, notFound } from './retrieval-errors.js';

function instanceUrl(baseUrl: string, i: RetrievableInstance): string {
  return `${baseUrl}/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`;
}

/**
 * WADO-RS metadata (PS3.18 10.4.1.1.2): the stored header of each instance as DICOM JSON, bulk
 * data placeholders turned into URLs. The array is streamed batch by batch (one statement per
 * batch), so a 10,000-instance study never becomes one string in memory.
 */
@Injectable()
export class MetadataService {
  private readonly logger = new Logger('Retrieval');

  constructor(
    private readonly catalog: CatalogReadService,
    private readonly audit: RetrievalAudit,
  ) {}

  async stream(
    filter: RetrievalFilter,
    type: string,
    baseUrl: string,
    who: Requester,
    res: Response,
  ): Promise<void> {
    const batches = this.catalog.instanceMetadataBatches(filter);
    const first = await batches.next();
    if (first.done) throw notFound(filter);
    const patientId = first.value[0]!.patientId;
    res.status(200).type(type);
    let sent = 0;
    let complete = false;
    try {
      await writeChunk(res, '[');
      for (
        let batch: IteratorResult<RetrievableInstance[]> = first;
        !batch.done;
        batch = await batches.next()
      ) {
        const text = batch.value
          .map((i) => JSON.stringify(withBulkDataUris(i.metadata ?? {}, instanceUrl(baseUrl, i))))
          .join(',');
        await writeChunk(res, sent === 0 ? text : `,${text}`);
        sent += batch.value.length;
      }
      await writeChunk(res, ']');
      res.end();
      complete = true;
    } catch (error) {
      await batches.return(undefined);
      logStop(this.logger, error, `WADO-RS metadata stopped after ${sent} instances`);
      res.destroy();
    } finally {
      await this.audit.retrieved({
        who,
        filter,
        patientId,
        kind: 'metadata',
        instances: sent,
        planned: sent,
        complete,
      });
    }
  }
}
