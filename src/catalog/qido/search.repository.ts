import { Injectable } from '@nestjs/common';
import { Database } from '../../database/index.js';
import { type SearchRow } from './render.js';
import { type SearchStatement } from './search-sql.js';

/** Runs the statements the search builder produces: the only place QIDO touches the database. */
@Injectable()
export class SearchRepository {
  constructor(private readonly db: Database) {}

  run(statement: SearchStatement): Promise<SearchRow[]> {
    return this.db.query<SearchRow>(statement.sql, statement.params);
  }
}
