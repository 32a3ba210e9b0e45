import { Injectable } from '@nestjs/common';
import { Database, type Sql } from '../database/index.js';
import { type AuditAppendPayload, type AuditEvent, type AuditRow } from './audit-event.js';
import { type AuditFilter } from './audit-query.js';
import { AuditRepository } from './audit.repository.js';

/** Rows per query while streaming an export. */
const STREAM_PAGE = 1000;

/** Records audit events (always inside the transaction of the change) and lists them. */
@Injectable()
export class AuditService {
  constructor(
    private readonly db: Database,
    private readonly repo: AuditRepository,
  ) {}

  /** Appends within `tx`: if the audit row cannot be written, the change does not commit. */
  record(tx: Sql, event: AuditEvent): Promise<void> {
    return this.repo.append(tx, event);
  }

  /** The append as a JSON payload, for a SQL function that records a change and its audit row. */
  payload(event: AuditEvent): AuditAppendPayload {
    return AuditRepository.payload(event);
  }

  /** For events that are not a change (queries, retrievals, refusals): its own transaction. */
  recordAlone(event: AuditEvent): Promise<void> {
    // One statement is its own transaction: the append (chain lock and row) commits as one, in
    // one round trip instead of BEGIN, append, COMMIT. Every C-FIND waits for it before answering.
    return this.repo.append(this.db, event);
  }

  /** One page of a search, in chain order. */
  list(filter: AuditFilter & { limit: number }): Promise<AuditRow[]> {
    return this.repo.list(this.db, filter);
  }

  /**
   * Every row of a search (or the first `limit`), page by page: for exports, which stream. It
   * stops at the head as it was when it began, so a busy archive's export ends.
   */
  async *stream(filter: AuditFilter, limit: number | null = null): AsyncGenerator<AuditRow[]> {
    const maxSeq = Math.min(await this.repo.headSeq(this.db), filter.maxSeq ?? Infinity);
    let left = limit ?? Infinity;
    let afterSeq = filter.afterSeq;
    while (left > 0) {
      const page = Math.min(left, STREAM_PAGE);
      const rows = await this.repo.list(this.db, { ...filter, afterSeq, maxSeq, limit: page });
      if (rows.length > 0) yield rows;
      if (rows.length < page) return;
      left -= rows.length;
      afterSeq = rows[rows.length - 1]!.seq;
    }
  }
}
