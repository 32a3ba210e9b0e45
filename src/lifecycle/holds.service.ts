import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { Database } from '../database/index.js';
import { HoldRepository, type LegalHold } from './hold.repository.js';

export class HoldError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export interface HoldRequest {
  patientId?: unknown;
  studyInstanceUid?: unknown;
  reason?: unknown;
  caseReference?: unknown;
  custodian?: unknown;
  reviewDate?: unknown;
}

interface Actor {
  actor: string;
  actorHost: string | null;
  /** The caller's role (an API token's), for the audit trail; null for the CLI or the system. */
  role?: string | null;
}

const FIELDS = [
  'patientId',
  'studyInstanceUid',
  'reason',
  'caseReference',
  'custodian',
  'reviewDate',
];
const UID = /^[0-9]+(\.[0-9]+)*$/;

function optionalText(body: Record<string, unknown>, key: string, max: number): string | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.trim() === '' || v.length > max) {
    throw new HoldError(400, `${key} must be a non-empty string of at most ${max} characters`);
  }
  return v.trim();
}

function validDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === text;
}

/**
 * Legal holds: while one covers a study (directly or through its Patient ID), no deletion path
 * touches it (expiry, purge, manual delete). Placing and releasing are audited with the reason.
 */
@Injectable()
export class HoldsService {
  private readonly repo = new HoldRepository();

  constructor(
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {}

  async place(body: unknown, by: Actor): Promise<LegalHold> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new HoldError(400, 'the body must be a JSON object');
    }
    const b = body as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !FIELDS.includes(k));
    if (unknown.length > 0) throw new HoldError(400, `unknown field(s): ${unknown.join(', ')}`);
    const patientId = optionalText(b, 'patientId', 64);
    const studyInstanceUid = optionalText(b, 'studyInstanceUid', 64);
    if ((patientId === null) === (studyInstanceUid === null)) {
      throw new HoldError(400, 'give either patientId or studyInstanceUid (exactly one)');
    }
    if (studyInstanceUid !== null && !UID.test(studyInstanceUid)) {
      throw new HoldError(400, 'studyInstanceUid is not a valid UID');
    }
    const reason = optionalText(b, 'reason', 1000);
    if (reason === null) throw new HoldError(400, 'reason is required');
    const reviewDate = optionalText(b, 'reviewDate', 10);
    if (reviewDate !== null && !validDate(reviewDate)) {
      throw new HoldError(400, 'reviewDate must be a date as YYYY-MM-DD');
    }
    const hold = {
      patientId,
      studyInstanceUid,
      reason,
      caseReference: optionalText(b, 'caseReference', 200),
      custodian: optionalText(b, 'custodian', 200),
      reviewDate,
      placedBy: by.actor,
    };
    return this.db.transaction(async (tx) => {
      const placed = await this.repo.place(tx, hold);
      await this.audit.record(tx, {
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role ?? null,
        action: 'hold.placed',
        outcome: 'success',
        patientId: placed.patientId,
        studyInstanceUid: placed.studyInstanceUid,
        detail: {
          hold: placed.id,
          reason: placed.reason,
          caseReference: placed.caseReference,
          custodian: placed.custodian,
          reviewDate: placed.reviewDate,
        },
      });
      return placed;
    });
  }

  async release(id: string, reason: unknown, by: Actor): Promise<LegalHold> {
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 1000) {
      throw new HoldError(400, 'reason is required (why the hold is released)');
    }
    return this.db.transaction(async (tx) => {
      const released = await this.repo.release(tx, id, by.actor, reason.trim());
      if (!released) {
        const existing = await this.repo.get(tx, id);
        throw existing
          ? new HoldError(409, `hold ${id} was already released`)
          : new HoldError(404, `no hold ${id}`);
      }
      await this.audit.record(tx, {
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role ?? null,
        action: 'hold.released',
        outcome: 'success',
        patientId: released.patientId,
        studyInstanceUid: released.studyInstanceUid,
        detail: { hold: released.id, reason: released.releaseReason, placedBy: released.placedBy },
      });
      return released;
    });
  }

  list(filter: {
    active?: boolean;
    patientId?: string;
    studyInstanceUid?: string;
  }): Promise<LegalHold[]> {
    return this.repo.list(this.db, filter);
  }

  get(id: string): Promise<LegalHold | null> {
    return this.repo.get(this.db, id);
  }
}
