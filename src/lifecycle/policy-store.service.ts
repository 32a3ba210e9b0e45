import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { loadPolicies } from './policy-loader.js';
import { type PolicySet } from './policy-model.js';

/**
 * The policy set the archive runs with, read and validated once at start: an invalid set stops
 * start-up (the error names each file, line and key). A set the archive has not run with before
 * is recorded (policy_versions) and audited as a policy change, with the files it is made of.
 */
@Injectable()
export class PolicyStore implements OnModuleInit {
  private readonly logger = new Logger('Lifecycle');
  readonly current: PolicySet;

  constructor(
    @Inject(STRATA_CONFIG) config: StrataConfig,
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {
    this.current = loadPolicies(config.policiesDir);
  }

  async onModuleInit(): Promise<void> {
    const p = this.current;
    const changed = await this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO policy_versions (version, files) VALUES ($1, $2)
         ON CONFLICT (version) DO NOTHING RETURNING 1`,
        [p.version, JSON.stringify(p.files)],
      );
      if (inserted.length === 0) return false;
      await this.audit.record(tx, {
        actor: 'system',
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
    this.logger.log(
      `policies: ${p.retention.length} retention and ${p.tiering.length} tiering rule(s) from ` +
        `${p.files.length} file(s), version ${p.version.slice(0, 12)}${changed ? ' (new: audited)' : ''}`,
    );
  }
}
