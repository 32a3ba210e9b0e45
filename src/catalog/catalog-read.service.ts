import { Injectable } from '@nestjs/common';
import {
  CatalogReadRepository,
  type RetrievableInstance,
  type RetrievalFilter,
} from './catalog-read.repository.js';
import { type DicomJsonDataset } from './dicom-json.js';
import { buildPatientSearch, type PatientSearchRequest } from './qido/patient-sql.js';
import { renderPatientRow, renderSearchRow, type SearchRow } from './qido/render.js';
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
   * Runs a search as one statement and renders the rows as DICOM JSON, and tells whether more
   * results exist than the limit. Throws SearchError for a bad request.
   */
  async search(request: SearchRequest, baseUrl: string): Promise<SearchResult> {
    const statement = buildSearch(withProbe(request));
    const rows = await this.searches.run(statement);
    return paged(rows, request.limit, (row) => renderSearchRow(row, statement, baseUrl));
  }

  /**
   * The patient level of C-FIND: one statement over the studies grouped by patient (see
   * patient-sql.ts), with the same one-row probe as search(). Throws SearchError.
   */
  async searchPatients(request: PatientSearchRequest): Promise<SearchResult> {
    const statement = buildPatientSearch(withProbe(request));
    const rows = await this.searches.run(statement);
    return paged(rows, request.limit, (row) => renderPatientRow(row, statement));
  }

  /** The (not expired) studies of these patients (C-MOVE/C-GET at PATIENT level). */
  studyUidsOfPatients(patientIds: readonly string[]): Promise<string[]> {
    return this.reads.studyUidsOfPatients(patientIds);
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

/** One row more than the limit is fetched to tell whether more results exist. */
function withProbe<T extends { limit: number | null }>(request: T): T {
  return request.limit === null ? request : { ...request, limit: request.limit + 1 };
}

function paged(
  rows: SearchRow[],
  limit: number | null,
  render: (row: SearchRow) => DicomJsonDataset,
): SearchResult {
  const more = limit !== null && rows.length > limit;
  return { results: (more ? rows.slice(0, limit) : rows).map(render), more };
}
