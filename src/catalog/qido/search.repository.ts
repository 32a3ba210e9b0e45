import { Injectable } from '@nestjs/common';
import { Database } from '../../database/index.js';
import { type SearchRow } from './render.js';
import { type SearchStatement } from './search-sql.js';

/**
 * Runs the statements the search builders produce: the only place searches (QIDO-RS, C-FIND)
 * touch the database.
 */
@Injectable()
export class SearchRepository {
  constructor(private readonly db: Database) {}

  run(statement: Pick<SearchStatement, 'sql' | 'params'>): Promise<SearchRow[]> {
    return this.db.prepared<SearchRow>(statement.sql, statement.params);
  }
}
