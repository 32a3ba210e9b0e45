import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { BlobStore, KeyService } from '../storage/index.js';
import { Clock } from './clock.js';
import { DeletionRepository, type PurgeEntry } from './deletion.repository.js';
import { FactsRepository } from './facts.repository.js';
import { HoldRepository } from './hold.repository.js';
import { PolicyStore } from './policy-store.service.js';

export type PurgeOutcome =
  | { kind: 'purged'; certificateId: string; objects: number; bytes: number }
  | { kind: 'blocked'; holds: string[] }
  | { kind: 'gone' };

/** The deletion certificate as signed: canonical JSON (keys in this order), one per purge. */
export interface DeletionCertificate {
  type: 'strata-deletion-certificate';
  version: 1;
  archive: string;
  issuedAt: string;
  study: {
    studyInstanceUid: string;
    patientId: string | null;
    studyDate: string | null;
    modalities: string[];
    instances: number;
    bytes: number;
  };
  authority: {
    expiredBy: string | null;
    expiredAt: string | null;
    rule: string | null;
    policyVersion: string;
    reason: string | null;
  };
  holdsChecked: { at: string; activeHolds: string[] };
  locations: {
    tier: string;
    backend: string;
    key: string;
    storedSize: number;
    confirmation: string;
    confirmedAt: string;
  }[];
  sessionKey: { pkeskRowsDestroyed: number; kept: string | null };
}

/**
 * Step two of deletion: every copy of every object of the study is deleted (each confirmed by a
 * HEAD that finds nothing), its session key rows destroyed (crypto-shredding), its catalog rows
 * reduced to a tombstone, and a signed certificate stored, in one transaction with the audit row.
 * The objects to delete are journaled first, so a crash at any point resumes: the objects still
 * there are deleted and the catalog finishes. Holds are checked before and again at commit.
 */
@Injectable()
export class Purger {
  private readonly facts = new FactsRepository();
  private readonly holds = new HoldRepository();
  private readonly deletions = new DeletionRepository();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly keys: KeyService,
    private readonly audit: AuditService,
    private readonly policies: PolicyStore,
    private readonly clock: Clock,
  ) {}

  async purge(studyUid: string, actor: string): Promise<PurgeOutcome> {
    return this.db.withConnection(async (lock) => {
      // The same lock as tier moves: no move of this study runs while it is purged.
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [`move:${studyUid}`]);
      try {
        return await this.purgeLocked(studyUid, actor);
      } finally {
        await lock
          .query('SELECT pg_advisory_unlock(hashtext($1))', [`move:${studyUid}`])
          .catch(() => undefined);
      }
    });
  }

  private async purgeLocked(studyUid: string, actor: string): Promise<PurgeOutcome> {
    const found = await this.facts.forStudy(this.db, studyUid);
    const status = await this.deletions.status(this.db, studyUid);
    if (!found || !status || status.purgedAt) return { kind: 'gone' };
    if (!status.expiredAt) throw new Error('only an expired study can be purged');
    const study = found.study.facts;
    const held = await this.holds.activeFor(this.db, studyUid, study.patientId);
    if (held.length > 0) return { kind: 'blocked', holds: held.map((h) => h.id) };

    const entries = await this.db.transaction((tx) =>
      this.deletions.startPurge(tx, studyUid, this.clock.now()),
    );
    this.failpoint('journaled');
    for (const entry of entries) {
      if (entry.confirmation) continue;
      await this.deleteConfirmed(entry);
    }
    this.failpoint('objects-deleted');
    const done = await this.deletions.entries(this.db, studyUid);
    const [{ n: instances } = { n: 0 }] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM instances i JOIN studies st ON st.id = i.study_fk
        WHERE st.study_instance_uid = $1`,
      [studyUid],
    );

    return this.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM studies WHERE study_instance_uid = $1 FOR UPDATE', [studyUid]);
      const now = this.clock.now();
      const holdsNow = await this.holds.activeFor(tx, studyUid, study.patientId);
      if (holdsNow.length > 0) {
        // A hold placed while the objects were being deleted: nothing more is removed from the
        // catalog; what was deleted is in the journal and the audit row says so.
        await this.audit.record(tx, {
          actor,
          action: 'study.purged',
          outcome: 'failure',
          patientId: study.patientId,
          studyInstanceUid: studyUid,
          detail: { blockedBy: holdsNow.map((h) => h.id), objectsDeleted: done.length },
        });
        return { kind: 'blocked', holds: holdsNow.map((h) => h.id) } as const;
      }
      const keyStillNeeded = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM blobs b
          WHERE b.study_instance_uid = $1
            AND b.id NOT IN (SELECT blob_fk FROM purge_journal WHERE study_instance_uid = $1)`,
        [studyUid],
      );
      const kept = (keyStillNeeded[0]?.n ?? 0) > 0;
      const shredded = kept ? 0 : await this.keys.shred(tx, studyUid);
      const certificate: DeletionCertificate = {
        type: 'strata-deletion-certificate',
        version: 1,
        archive: this.config.dicom.aeTitle,
        issuedAt: now.toISOString(),
        study: {
          studyInstanceUid: studyUid,
          patientId: study.patientId,
          studyDate: study.studyDate,
          modalities: study.modalities,
          instances,
          bytes: study.sizeBytes,
        },
        authority: {
          expiredBy: status.expiredBy,
          expiredAt: status.expiredAt,
          rule: status.expiredRule,
          policyVersion: this.policies.current.version,
          reason: status.expiredReason,
        },
        holdsChecked: { at: now.toISOString(), activeHolds: [] },
        locations: done.map((e) => ({
          tier: e.tier,
          backend: e.backend,
          key: e.key,
          storedSize: e.storedSize,
          confirmation: e.confirmation ?? 'unconfirmed',
          confirmedAt: e.confirmedAt ?? now.toISOString(),
        })),
        sessionKey: {
          pkeskRowsDestroyed: shredded,
          kept: kept ? 'objects of other studies still use this session key' : null,
        },
      };
      const document = JSON.stringify(certificate);
      const { signature, fingerprint } = await this.keys.sign(document);
      const certificateId = await this.deletions.saveCertificate(tx, {
        studyInstanceUid: studyUid,
        issuedAt: certificate.issuedAt,
        document,
        signature,
        signerFingerprint: fingerprint,
      });
      await this.deletions.finishPurge(tx, studyUid, now, certificateId);
      const bytes = done.reduce((sum, e) => sum + e.storedSize, 0);
      await this.audit.record(tx, {
        actor,
        action: 'study.purged',
        outcome: 'success',
        patientId: study.patientId,
        studyInstanceUid: studyUid,
        instances,
        detail: {
          certificate: certificateId,
          rule: status.expiredRule,
          expiredBy: status.expiredBy,
          policyVersion: this.policies.current.version,
          objects: done.length,
          bytes,
          pkeskRowsDestroyed: shredded,
        },
      });
      return { kind: 'purged', certificateId, objects: done.length, bytes } as const;
    });
  }

  /** Deletes an object and proves it is gone (a HEAD that finds nothing), then records that. */
  private async deleteConfirmed(entry: PurgeEntry): Promise<void> {
    const before = await this.blobs.statObject(entry);
    if (before) await this.blobs.deleteObject(entry);
    const after = await this.blobs.statObject(entry);
    if (after) {
      throw new Error(`backend ${entry.backend} still has object ${entry.key} after deleting it`);
    }
    await this.deletions.confirm(
      this.db,
      entry.id,
      before ? 'deleted; HEAD afterwards: not found' : 'already absent; HEAD: not found',
      this.clock.now(),
    );
    this.failpoint('object-deleted');
  }

  private failpoint(step: string): void {
    if (this.config.testFailpoint === `purge:${step}`) process.kill(process.pid, 'SIGKILL');
  }
}
