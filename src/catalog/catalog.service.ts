import { Injectable } from '@nestjs/common';
import { Database, type Sql } from '../database/index.js';
import { type NewInstance, type RecordResult } from './catalog-types.js';
import { CatalogRepository } from './catalog.repository.js';

/** The catalog's write side as the ingestion pipeline uses it. */
@Injectable()
export class CatalogService {
  constructor(
    private readonly repo: CatalogRepository,
    private readonly db: Database,
  ) {}

  /** Records one received instance inside the caller's transaction. */
  recordInstance(tx: Sql, instance: NewInstance): Promise<RecordResult> {
    return this.repo.recordInstance(tx, instance);
  }

  /**
   * Records a new instance with its audit row (an AuditService payload for outcome 'stored',
   * version 1) in one statement; null, with nothing written, when the instance is not new.
   */
  recordNewInstanceAudited(
    instance: NewInstance,
    audit: Record<string, unknown>,
  ): Promise<RecordResult | null> {
    return this.repo.recordNewInstanceAudited(this.db, instance, audit);
  }
}
