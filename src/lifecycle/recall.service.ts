import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { StudyAccessEvents } from '../catalog/index.js';
import { Database } from '../database/index.js';
import { type Job, TierMover } from '../tiering/index.js';
import { FactsRepository, type StudyRecord } from './facts.repository.js';
import { PolicyStore } from './policy-store.service.js';
import { LIFECYCLE_OPTIONS, type LifecycleOptions } from './sweeps.service.js';

interface Actor {
  actor: string;
  actorHost: string | null;
  /** The caller's role (an API token's), for the audit trail; null for the CLI or the system. */
  role?: string | null;
}

export interface RecallOutcome {
  studyInstanceUid: string;
  /** The move job, or null when the study is already all on the hot tier. */
  job: Job | null;
  tiers: string[];
}

/**
 * Recall to hot: on access (policies' `recallOnAccess`: a study read while some of it is on warm
 * or cold), or ahead of time, one study (POST /api/studies/{uid}/recall) or every study of a list
 * of patients (a prefetch list, e.g. tomorrow's appointments). Each recall is a tier move job to
 * hot, audited with who asked and why.
 */
@Injectable()
export class RecallService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Lifecycle');
  private readonly facts = new FactsRepository();

  constructor(
    @Inject(LIFECYCLE_OPTIONS) private readonly options: LifecycleOptions,
    private readonly db: Database,
    private readonly mover: TierMover,
    private readonly audit: AuditService,
    private readonly policies: PolicyStore,
    private readonly accesses: StudyAccessEvents,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.options.resumeJobs || !this.policies.current.settings.recallOnAccess) return;
    this.accesses.onAccess((uids) => this.recallAccessed(uids));
  }

  /** Studies just read: those with objects off the hot tier, and no move pending, go back to hot. */
  async recallAccessed(uids: readonly string[]): Promise<void> {
    const pending = await this.mover.pendingStudyMoves();
    for (const uid of uids) {
      if (pending.has(uid)) continue;
      const found = await this.facts.forStudy(this.db, uid);
      if (!found || found.study.state.expiredAt) continue;
      const r = await this.recall(found.study, { actor: 'lifecycle', actorHost: null }, 'accessed');
      if (r.job) this.logger.log(`recalling a study read from ${r.tiers.join('+')} to hot`);
    }
  }

  async recallStudy(studyUid: string, by: Actor, reason: string): Promise<RecallOutcome | null> {
    const found = await this.facts.forStudy(this.db, studyUid);
    if (!found || found.study.state.expiredAt) return null;
    return this.recall(found.study, by, reason);
  }

  async prefetch(patientIds: string[], by: Actor, reason: string): Promise<RecallOutcome[]> {
    const studies = await this.facts.forPatientIds(this.db, patientIds);
    const out: RecallOutcome[] = [];
    for (const s of studies) {
      if (s.state.expiredAt) continue;
      out.push(await this.recall(s, by, reason));
    }
    return out;
  }

  private async recall(s: StudyRecord, by: Actor, reason: string): Promise<RecallOutcome> {
    const uid = s.facts.studyInstanceUid;
    const tiers = s.facts.tiers;
    if (tiers.every((t) => t === 'hot')) return { studyInstanceUid: uid, job: null, tiers };
    const job = await this.mover.request({
      studyInstanceUid: uid,
      seriesInstanceUid: null,
      tier: 'hot',
      actor: by.actor,
      actorHost: by.actorHost,
      role: by.role ?? null,
      policy: { version: this.policies.current.version, rule: null, reason: `recall: ${reason}` },
    });
    await this.audit.recordAlone({
      actor: by.actor,
      actorHost: by.actorHost,
      role: by.role ?? null,
      action: 'study.recall-requested',
      outcome: 'success',
      patientId: s.facts.patientId,
      studyInstanceUid: uid,
      detail: { job: job.id, from: tiers, reason },
    });
    return { studyInstanceUid: uid, job, tiers };
  }
}
