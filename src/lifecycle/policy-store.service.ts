import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { loadPolicies } from './policy-loader.js';
import { type PolicySet } from './policy-model.js';

/** Who put a policy set in place: 'system' at start, the caller of a reload. */
export interface PolicyActor {
  actor: string;
  actorHost?: string | null;
  role?: string | null;
}

/**
 * The policy set the archive runs with, read and validated at start (an invalid set stops
 * start-up; the error names each file, line and key) and replaced by a reload (`adopt`, after the
 * new set was validated whole). A set the archive has not run with before is recorded
 * (policy_versions) and audited as a policy change, with the files it is made of. Readers take
 * `current` afresh for each decision, so a sweep in progress goes on under the new set from its
 * next batch, and each action's audit record names the version it was decided under.
 */
@Injectable()
export class PolicyStore implements OnModuleInit {
  private readonly logger = new Logger('Lifecycle');
  private set: PolicySet;

  constructor(
    @Inject(STRATA_CONFIG) config: StrataConfig,
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {
    this.set = loadPolicies(config.policiesDir);
  }

  get current(): PolicySet {
    return this.set;
  }

  async onModuleInit(): Promise<void> {
    const changed = await this.record(this.set, { actor: 'system' });
    this.logger.log(`${describe(this.set)}${changed ? ' (new: audited)' : ''}`);
  }

  /**
   * Runs with `next` from now on; records and audits it if the archive never ran with it before.
   * Returns whether it was new.
   */
  async adopt(next: PolicySet, by: PolicyActor): Promise<boolean> {
    const changed = await this.record(next, by);
    this.set = next;
    this.logger.log(`policies reloaded: ${describe(next)}${changed ? ' (new: audited)' : ''}`);
    return changed;
  }

  private record(p: PolicySet, by: PolicyActor): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO policy_versions (version, files) VALUES ($1, $2)
         ON CONFLICT (version) DO NOTHING RETURNING 1`,
        [p.version, JSON.stringify(p.files)],
      );
      if (inserted.length === 0) return false;
      await this.audit.record(tx, {
        actor: by.actor,
        ...(by.actorHost !== undefined ? { actorHost: by.actorHost } : {}),
        ...(by.role !== undefined ? { role: by.role } : {}),
        action: 'policy.changed',
        outcome: 'success',
        detail: {
          policyVersion: p.version,
          dir: p.dir,
          files: p.files,
          settings: p.settings,
          retentionRules: p.retention.map((r) => `${r.file}#${r.id}`),
          tieringRules: p.tiering.map((r) => `${r.file}#${r.id}`),
        },
      });
      return true;
    });
  }
}

function describe(p: PolicySet): string {
  return (
    `policies: ${p.retention.length} retention and ${p.tiering.length} tiering rule(s) from ` +
    `${p.files.length} file(s), version ${p.version.slice(0, 12)}`
  );
}
