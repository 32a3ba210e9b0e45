import { Injectable } from '@nestjs/common';
import { type Sql } from '../database/index.js';
import { type NewInstance, type RecordResult } from './catalog-types.js';
import { CatalogRepository } from './catalog.repository.js';

/** The catalog's write side as the ingestion pipeline uses it. */
@Injectable()
export class CatalogService {
  constructor(private readonly repo: CatalogRepository) {}

  /** Records one received instance inside the caller's transaction. */
  recordInstance(tx: Sql, instance: NewInstance): Promise<RecordResult> {
    return this.repo.recordInstance(tx, instance);
  }

  /**
   * Records a new instance with its audit row (an AuditService payload for outcome 'stored',
   * version 1) in one statement, in `sql` (a transaction, or the pool for autocommit); null when
   * the instance is not new: then the statement failed, and a transaction it ran in is aborted.
   */
  recordNewInstanceAudited(
    sql: Sql,
    instance: NewInstance,
    audit: Record<string, unknown>,
  ): Promise<RecordResult | null> {
    return this.repo.recordNewInstanceAudited(sql, instance, audit);
  }
}
