import { Injectable } from '@nestjs/common';
import {
  CatalogReadRepository,
  type RetrievableInstance,
  type RetrievalFilter,
} from './catalog-read.repository.js';
import { type DicomJsonDataset } from './dicom-json.js';
import { renderSearchRow } from './qido/render.js';
import { buildSearch } from './qido/search-sql.js';
import { type SearchRequest } from './qido/search-types.js';
import { SearchRepository } from './qido/search.repository.js';
import { StudyAccessEvents } from './study-access-events.js';

export interface SearchResult {
  results: DicomJsonDataset[];
  /** True when more results match than the page holds. */
  more: boolean;
}

/** Instances per statement when streaming a study's metadata: bounded memory per request. */
const METADATA_BATCH = 200;

/** The catalog's read side: searches (QIDO-RS, C-FIND) and what retrieval needs to read instances. */
@Injectable()
export class CatalogReadService {
  constructor(
    private readonly searches: SearchRepository,
    private readonly reads: CatalogReadRepository,
    private readonly accesses: StudyAccessEvents,
  ) {}

  /**
   * Runs a search as one statement and renders the rows as DICOM JSON. One row more than the
   * limit is fetched to tell whether more results exist. Throws SearchError for a bad request.
   */
  async search(request: SearchRequest, baseUrl: string): Promise<SearchResult> {
    const probe = request.limit === null ? request : { ...request, limit: request.limit + 1 };
    const statement = buildSearch(probe);
    const rows = await this.searches.run(statement);
    const more = request.limit !== null && rows.length > request.limit;
    const page = more ? rows.slice(0, request.limit!) : rows;
    return { results: page.map((row) => renderSearchRow(row, statement, baseUrl)), more };
  }

  /** Every instance under the filter (current versions, best locations), without metadata. */
  findInstancesForRetrieval(filter: RetrievalFilter): Promise<RetrievableInstance[]> {
    return this.reads.findInstancesForRetrieval(filter);
  }

  /** The same instances with their stored metadata, a batch at a time (one statement each). */
  async *instanceMetadataBatches(
    filter: RetrievalFilter,
    batchSize = METADATA_BATCH,
  ): AsyncGenerator<RetrievableInstance[]> {
    let afterId: string | undefined;
    for (;;) {
      const batch = await this.reads.findInstancesForRetrieval(filter, {
        afterId,
        limit: batchSize,
        withMetadata: true,
      });
      if (batch.length > 0) yield batch;
      if (batch.length < batchSize) return;
      afterId = batch[batch.length - 1]!.id;
    }
  }

  /** Records that studies were read, then tells those who act on access (StudyAccessEvents). */
  async touchStudies(studyInstanceUids: readonly string[]): Promise<void> {
    await this.reads.touchStudies(studyInstanceUids);
    this.accesses.publish(studyInstanceUids);
  }
}
