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
}
