import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { Database } from '../database/index.js';
import { type Job, TierMover } from '../tiering/index.js';
import { FactsRepository, type StudyRecord } from './facts.repository.js';
import { PolicyStore } from './policy-store.service.js';

interface Actor {
  actor: string;
  actorHost: string | null;
}

export interface RecallOutcome {
  studyInstanceUid: string;
  /** The move job, or null when the study is already all on the hot tier. */
  job: Job | null;
  tiers: string[];
}

/**
 * Recall to hot ahead of time: one study (POST /api/studies/{uid}/recall) or every study of a
 * list of patients (a prefetch list, e.g. tomorrow's appointments). Each recall is a tier move
 * job to hot, audited with who asked and why.
 */
@Injectable()
export class RecallService {
  private readonly facts = new FactsRepository();

  constructor(
    private readonly db: Database,
    private readonly mover: TierMover,
    private readonly audit: AuditService,
    private readonly policies: PolicyStore,
  ) {}

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
      policy: { version: this.policies.current.version, rule: null, reason: `recall: ${reason}` },
    });
    await this.audit.recordAlone({
      actor: by.actor,
      actorHost: by.actorHost,
      action: 'study.recall-requested',
      outcome: 'success',
      patientId: s.facts.patientId,
      studyInstanceUid: uid,
      detail: { job: job.id, from: tiers, reason },
    });
    return { studyInstanceUid: uid, job, tiers };
  }
}
