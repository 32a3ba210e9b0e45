import { Injectable, Logger } from '@nestjs/common';
import { type Response } from 'express';
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import {
  CatalogReadService,
  type RetrievableInstance,
  type RetrievalFilter,
} from '../catalog/index.js';
import { datasetEncoding, type DatasetEncoding, isDicomFormatError } from '../dicom/index.js';
import { BlobStore } from '../storage/index.js';
import { ByteReader } from './byte-reader.js';
import { type ElementHeader, readElementHeader } from './element-header.js';
import { type ElementPath, locateElement } from './element-locator.js';
import { problem, type Requester } from './http.js';
import { MultipartWriter } from './multipart-writer.js';
import { RestoreCoordinator } from './restore-coordinator.service.js';
import { RetrievalAudit } from './retrieval-audit.service.js';
import { logStop, notFound } from './retrieval-errors.js';

/**
 * A bulk data path from the URL: a tag, or sequence tag / item number / tag ... as the
 * BulkDataURIs in metadata spell it. Null when malformed.
 */
export function parseBulkDataPath(segments: readonly string[]): ElementPath | null {
  if (segments.length % 2 !== 1 || segments.length > 63) return null;
  const path: Array<string | number> = [];
  for (let n = 0; n < segments.length; n++) {
    const s = segments[n]!;
    if (n % 2 === 0) {
      if (!/^[0-9A-Fa-f]{8}$/.test(s)) return null;
      path.push(s.toUpperCase());
    } else {
      if (!/^\d{1,6}$/.test(s)) return null;
      path.push(Number(s));
    }
  }
  return path;
}

/**
 * WADO-RS bulk data (PS3.18 10.4.1.1.3): the value of one element, as stored, in a
 * multipart/related; type="application/octet-stream" body. The element recorded at ingest as the
 * instance's bulk element (Pixel Data, usually) is reached by its offset; others (large binary
 * values in the header, also inside sequences) by walking the data set. Encapsulated (compressed)
 * Pixel Data is refused with 501: serving it means splitting frames into their compressed media
 * types, which is not built yet; the whole instance can be retrieved instead.
 */
@Injectable()
export class BulkDataService {
  private readonly logger = new Logger('Retrieval');

  constructor(
    private readonly catalog: CatalogReadService,
    private readonly blobs: BlobStore,
    private readonly audit: RetrievalAudit,
    private readonly restores: RestoreCoordinator,
  ) {}

  async retrieve(
    filter: RetrievalFilter,
    path: ElementPath,
    who: Requester,
    res: Response,
  ): Promise<void> {
    const [instance] = await this.catalog.findInstancesForRetrieval(filter);
    if (!instance) throw notFound(filter);
    const encoding = this.encodingOf(instance);
    if (!instance.location)
      throw problem(503, 'the instance has no readable copy at the moment; try again later');
    await this.restores.requireReady(filter.studyInstanceUid, [instance.location], who, res);

    const reader = new ByteReader(await this.openDataset(instance, encoding));
    let sent = false;
    try {
      const header = await this.find(reader, instance, encoding, path);
      if (!header) throw problem(404, 'the instance has no bulk data element at this path');
      if (header.valueLength === null) {
        throw problem(
          501,
          'encapsulated (compressed) pixel data is not served as bulk data; retrieve the instance instead',
        );
      }
      await reader.skip(header.headerLength);
      const writer = new MultipartWriter(res);
      res.status(200).setHeader('Content-Type', writer.contentType('application/octet-stream'));
      try {
        await writer.part(
          {
            'Content-Type': 'application/octet-stream',
            'Content-Length': String(header.valueLength),
          },
          Readable.from(reader.take(header.valueLength)),
        );
        await writer.end();
        res.end();
        sent = true;
      } catch (error) {
        logStop(this.logger, error, `WADO-RS bulk data transfer stopped`);
        res.destroy();
      }
      await this.audit.retrieved({
        who,
        filter,
        patientId: instance.patientId,
        kind: 'bulkdata',
        instances: sent ? 1 : 0,
        planned: 1,
        complete: sent,
        detail: { bulkData: path.join('/') },
      });
    } finally {
      reader.close();
    }
  }

  private encodingOf(instance: RetrievableInstance): DatasetEncoding {
    let encoding: DatasetEncoding;
    try {
      encoding = datasetEncoding(instance.transferSyntaxUid);
    } catch (error) {
      if (isDicomFormatError(error))
        throw problem(501, 'bulk data of this transfer syntax is not served');
      throw error;
    }
    // Bulk data is little endian on the wire (PS3.18 8.7.3.3.2); swapping is not built.
    if (!encoding.littleEndian)
      throw problem(501, 'bulk data of big endian instances is not served; retrieve the instance');
    return encoding;
  }

  /** The data set bytes, inflated for a deflated transfer syntax (offsets refer to those). */
  private async openDataset(
    instance: RetrievableInstance,
    encoding: DatasetEncoding,
  ): Promise<Readable> {
    const plain = await this.blobs.openPlaintext(instance.location!, instance.studyInstanceUid);
    if (!encoding.deflated) return plain;
    return pipeline(plain, zlib.createInflateRaw(), () => undefined);
  }

  private async find(
    reader: ByteReader,
    instance: RetrievableInstance,
    encoding: DatasetEncoding,
    path: ElementPath,
  ): Promise<ElementHeader | null> {
    if (path.length === 1 && path[0] === instance.bulkTag && instance.bulkOffset !== null) {
      await reader.skip(instance.bulkOffset);
      const header = readElementHeader(await reader.peek(12), encoding);
      if (!header || header.tag !== instance.bulkTag)
        throw new Error('the stored bulk element is not at its recorded offset');
      return header;
    }
    return locateElement(reader, encoding, path);
  }
}
