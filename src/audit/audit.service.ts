import { Injectable } from '@nestjs/common';
import { Database, type Sql } from '../database/index.js';
import { type AuditAppendPayload, type AuditEvent, type AuditRow } from './audit-event.js';
import { AuditRepository } from './audit.repository.js';

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

  list(filter: Parameters<AuditRepository['list']>[1]): Promise<AuditRow[]> {
    return this.repo.list(this.db, filter);
  }
}
