import { Injectable, Logger } from '@nestjs/common';
import { type Response } from 'express';
import { type Readable } from 'node:stream';
import {
  CatalogReadService,
  type RetrievableInstance,
  type RetrievalFilter,
} from '../catalog/index.js';
import { writePart10Meta } from '../dicom/index.js';
import { BlobStore } from '../storage/index.js';
import { type TransferSyntaxChoice } from './accept.js';
import { problem, type Requester } from './http.js';
import { logStop, notFound } from './retrieval-errors.js';
import { MultipartWriter } from './multipart-writer.js';
import { RestoreCoordinator } from './restore-coordinator.service.js';
import { RetrievalAudit } from './retrieval-audit.service.js';

/**
 * WADO-RS instance retrieval (PS3.18 10.4): each instance as one application/dicom part, a Part 10
 * meta header followed by the stored data set decrypted on the fly. Nothing is buffered beyond a
 * stream chunk; a failure after the first byte destroys the response so that the client sees a
 * truncated body, never a well-formed one holding wrong bytes.
 */
@Injectable()
export class WadoService {
  private readonly logger = new Logger('Retrieval');

  constructor(
    private readonly catalog: CatalogReadService,
    private readonly blobs: BlobStore,
    private readonly audit: RetrievalAudit,
    private readonly restores: RestoreCoordinator,
  ) {}

  async retrieve(
    filter: RetrievalFilter,
    accepted: TransferSyntaxChoice,
    who: Requester,
    res: Response,
  ): Promise<void> {
    const instances = await this.catalog.findInstancesForRetrieval(filter);
    if (instances.length === 0) throw notFound(filter);
    if (!accepted.any) {
      const stored = [...new Set(instances.map((i) => i.transferSyntaxUid))];
      if (stored.some((ts) => !accepted.uids.has(ts))) {
        throw problem(
          406,
          'the instances are stored in a transfer syntax the request does not accept, and Strata does not transcode; ' +
            'ask for transfer-syntax=* or for the stored one',
          { storedTransferSyntaxes: stored },
        );
      }
    }
    if (instances.some((i) => i.location === null)) {
      throw problem(503, 'an instance has no readable copy at the moment; try again later');
    }
    await this.restores.requireReady(
      filter.studyInstanceUid,
      instances.map((i) => i.location!),
      who,
      res,
    );

    // Opening the first object before the status line lets a storage or key failure still be a 500.
    let next: Readable | null = await this.open(instances[0]!);
    const writer = new MultipartWriter(res);
    res.status(200).setHeader('Content-Type', writer.contentType('application/dicom'));
    let sent = 0;
    try {
      for (let n = 0; n < instances.length; n++) {
        const instance = instances[n]!;
        const body: Readable = next!;
        next = null;
        const meta = writePart10Meta({
          sopClassUid: instance.sopClassUid,
          sopInstanceUid: instance.sopInstanceUid,
          transferSyntaxUid: instance.transferSyntaxUid,
        });
        await writer.part(
          {
            'Content-Type': `application/dicom; transfer-syntax=${instance.transferSyntaxUid}`,
            'Content-Length': String(meta.length + instance.size),
          },
          meta,
          body,
        );
        sent++;
        if (n + 1 < instances.length) next = await this.open(instances[n + 1]!);
      }
      await writer.end();
      res.end();
    } catch (error) {
      next?.destroy();
      logStop(
        this.logger,
        error,
        `WADO-RS transfer stopped after ${sent} of ${instances.length} instances`,
      );
      res.destroy();
    } finally {
      await this.audit.retrieved({
        who,
        filter,
        patientId: instances[0]!.patientId,
        kind: 'instances',
        instances: sent,
        planned: instances.length,
        complete: sent === instances.length,
      });
    }
  }

  private open(instance: RetrievableInstance): Promise<Readable> {
    return this.blobs.openPlaintext(instance.location!, instance.studyInstanceUid);
  }
}
