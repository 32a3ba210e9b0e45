import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import {
  CatalogReadService,
  type DicomJsonDataset,
  parseQidoParams,
  type QueryLevel,
  type SearchScope,
} from '../catalog/index.js';
import { type Requester } from './http.js';

export interface QidoAnswer {
  results: DicomJsonDataset[];
  /** Texts for Warning headers. */
  warnings: string[];
}

/** PS3.18 8.3.4 gives this text for a result set cut by the server. */
const MORE_RESULTS =
  'The number of results exceeded the maximum supported by the server. Additional results can be requested.';

/**
 * QIDO-RS: parameters → one catalog search → DICOM JSON, and one `study.queried` audit event per
 * search (level and query keys only: the values may be patient names). The event is written
 * before the answer leaves: a search that cannot be audited is not answered.
 */
@Injectable()
export class QidoService {
  constructor(
    private readonly catalog: CatalogReadService,
    private readonly audit: AuditService,
  ) {}

  /** Throws SearchError (→ 400) for a malformed search. */
  async search(
    level: QueryLevel,
    scope: SearchScope,
    params: Iterable<readonly [string, string]>,
    who: Requester,
    baseUrl: string,
  ): Promise<QidoAnswer> {
    const parsed = parseQidoParams(level, scope, params);
    // A pacs token finds only its source's instances ('', a pacs token without one: nothing).
    const fromSource = who.fromSource;
    const request =
      fromSource === null || fromSource === undefined
        ? parsed.request
        : { ...parsed.request, fromSource };
    const { results, more } = await this.catalog.search(request, baseUrl);
    const warnings = [...parsed.warnings];
    if (more && parsed.serverLimited) warnings.push(MORE_RESULTS);
    const include = parsed.request.includeFields;
    await this.audit.recordAlone({
      actor: who.actor,
      actorHost: who.host,
      role: who.role,
      action: 'study.queried',
      outcome: 'success',
      studyInstanceUid: scope.studyInstanceUid ?? null,
      instances: null,
      detail: {
        protocol: 'QIDO-RS',
        level,
        ...(scope.seriesInstanceUid ? { seriesInstanceUid: scope.seriesInstanceUid } : {}),
        keys: parsed.request.keys.map((k) => k.key),
        ...(include === 'all' || (include && include.length > 0) ? { includefield: include } : {}),
        limit: parsed.request.limit,
        offset: parsed.request.offset,
        results: results.length,
      },
    });
    return { results, warnings };
  }
}
