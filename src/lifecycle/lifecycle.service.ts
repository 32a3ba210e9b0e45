import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { Database } from '../database/index.js';
import { Clock } from './clock.js';
import { type LifecycleDecision } from './decision.js';
import { DeletionRepository } from './deletion.repository.js';
import { evaluate } from './evaluator.js';
import { FactsRepository } from './facts.repository.js';
import { HoldRepository } from './hold.repository.js';
import { PolicyStore } from './policy-store.service.js';

/** What explain answers: the decision, or the tombstone of a purged study. */
export type Explanation =
  | ({ state: 'active' | 'expired' } & LifecycleDecision)
  | {
      state: 'purged';
      studyInstanceUid: string;
      expiredAt: string | null;
      purgedAt: string;
      deletionCertificate: string | null;
    };

export class LifecycleError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** Explain and manual deletion: the lifecycle of one study, on request. */
@Injectable()
export class LifecycleService {
  private readonly facts = new FactsRepository();
  private readonly holds = new HoldRepository();
  private readonly deletions = new DeletionRepository();

  constructor(
    private readonly db: Database,
    private readonly policies: PolicyStore,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** Every rule that matched and why, retention end, next move, holds; at `at` (default now). */
  async explain(studyUid: string, at?: Date): Promise<Explanation> {
    const status = await this.deletions.status(this.db, studyUid);
    if (!status) throw new LifecycleError(404, 'the study is not in the archive');
    if (status.purgedAt) {
      return {
        state: 'purged',
        studyInstanceUid: studyUid,
        expiredAt: status.expiredAt,
        purgedAt: status.purgedAt,
        deletionCertificate: status.certificateId,
      };
    }
    const decision = await this.decide(studyUid, at ?? this.clock.now());
    return { state: decision.expiredAt ? 'expired' : 'active', ...decision };
  }

  async decide(studyUid: string, at: Date): Promise<LifecycleDecision> {
    const found = await this.facts.forStudy(this.db, studyUid);
    if (!found) throw new LifecycleError(404, 'the study is not in the archive');
    const holds = await this.holds.activeFor(this.db, studyUid, found.study.facts.patientId);
    return evaluate(
      {
        study: found.study.facts,
        patientStudies: found.patient.map((s) => s.facts),
        holds,
        state: found.study.state,
      },
      this.policies.current,
      at,
    );
  }

  /**
   * Manual deletion (DELETE /api/studies/{uid}): the same two steps as retention. The study is
   * expired now (hidden, kept) and purged after the grace period by the purge sweep, if no hold is
   * in the way then. A hold in the way now refuses the request (409), audited.
   */
  async requestDeletion(
    studyUid: string,
    reason: string,
    by: { actor: string; actorHost: string | null; role?: string | null },
  ): Promise<{ expiredAt: string; purgeNotBefore: string }> {
    const found = await this.facts.forStudy(this.db, studyUid);
    const status = await this.deletions.status(this.db, studyUid);
    if (!found || !status || status.purgedAt) {
      throw new LifecycleError(404, 'the study is not in the archive');
    }
    const patientId = found.study.facts.patientId;
    const now = this.clock.now();
    const graceDays = this.policies.current.settings.purgeGraceDays;
    const purgeNotBefore = new Date(now.getTime() + graceDays * 86_400_000).toISOString();
    const result = await this.db.transaction(async (tx) => {
      // Holds are read in the transaction that expires, under the study's row lock.
      await tx.query('SELECT 1 FROM studies WHERE study_instance_uid = $1 FOR UPDATE', [studyUid]);
      const holds = await this.holds.activeFor(tx, studyUid, patientId);
      if (holds.length > 0) return { blockedBy: holds.map((h) => h.id) };
      const expired = await this.deletions.expire(tx, studyUid, now, 'manual', null, reason);
      if (!expired) return { already: true };
      await this.audit.record(tx, {
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role ?? null,
        action: 'study.expired',
        outcome: 'success',
        patientId,
        studyInstanceUid: studyUid,
        detail: {
          by: 'manual',
          reason,
          policyVersion: this.policies.current.version,
          holdsChecked: [],
          purgeNotBefore,
        },
      });
      return {};
    });
    if ('blockedBy' in result) {
      await this.audit.recordAlone({
        actor: by.actor,
        actorHost: by.actorHost,
        role: by.role ?? null,
        action: 'study.delete-requested',
        outcome: 'failure',
        patientId,
        studyInstanceUid: studyUid,
        detail: { reason, blockedBy: result.blockedBy },
      });
      throw new LifecycleError(
        409,
        `legal hold(s) ${result.blockedBy!.join(', ')} cover this study: it cannot be deleted`,
      );
    }
    if ('already' in result) {
      throw new LifecycleError(409, 'the study is already expired and waits for its purge');
    }
    return { expiredAt: now.toISOString(), purgeNotBefore };
  }
}
