import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import { changedSections, configVersion, recordableConfig } from './config-fingerprint.js';
import { ConfigVersionsRepository } from './config-versions.repository.js';

/**
 * Configuration changes are audited: a node that starts with a configuration the archive has not
 * run with before records it (config_versions, secrets only as digests) and appends
 * 'config.changed' with the sections that differ from the previous one, in one transaction.
 * The configuration is read once at start, so a start is when it can change.
 */
@Injectable()
export class ConfigAuditService implements OnModuleInit {
  private readonly logger = new Logger('Config');

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly versions: ConfigVersionsRepository,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    const recordable = recordableConfig(this.config);
    const version = configVersion(recordable);
    const sections = await this.db.transaction(async (tx) => {
      if (!(await this.versions.insert(tx, version, recordable))) return null;
      const previous = await this.versions.previous(tx, version);
      const changed = previous ? changedSections(previous.config, recordable) : ['(first start)'];
      await this.audit.record(tx, {
        actor: 'system',
        action: 'config.changed',
        outcome: 'success',
        detail: { version, previous: previous?.version ?? null, changed },
      });
      return changed;
    });
    if (sections)
      this.logger.log(`configuration ${version} recorded (changed: ${sections.join(', ')})`);
  }
}
