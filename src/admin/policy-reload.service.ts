import { Inject, Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditService } from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import {
  DuplicatePolicies,
  IngestionService,
  PolicyError,
  ProfileError,
  VendorProfiles,
} from '../ingestion/index.js';
import {
  formatIssue,
  loadPolicies,
  PolicyStore,
  PolicyValidationError,
} from '../lifecycle/index.js';

export interface ReloadActor {
  actor: string;
  actorHost: string | null;
  role: string | null;
}

export type ReloadOutcome =
  | {
      reloaded: true;
      policyVersion: string;
      previousVersion: string;
      /** Whether the lifecycle set is one the archive never ran with (then audited as a change). */
      lifecycleChanged: boolean;
      /** SHA-256 of each duplicate-policy and vendor-profile file now in force. */
      otherFiles: Record<string, string>;
    }
  | { reloaded: false; errors: string[] };

/**
 * Reloads every policy kept as files in the policies folder: lifecycle rules and settings,
 * duplicate policies (duplicates.yaml) and vendor profiles (profiles/). The new files are
 * validated whole first; an invalid set is refused with every problem found and the archive goes
 * on with the set it had. Both outcomes are audited ('policy.reloaded', success or failure), with
 * who asked. Reloads are per node: in a multi-node deployment, reload each node.
 */
@Injectable()
export class PolicyReloadService {
  private readonly logger = new Logger('Policies');
  private reloading: Promise<ReloadOutcome> | null = null;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly audit: AuditService,
    // The lifecycle and ingestion contexts are modules of their own (one made with options), so
    // their services are found in the app rather than imported into this module a second time.
    private readonly modules: ModuleRef,
  ) {}

  private get lifecycle(): PolicyStore {
    return this.modules.get(PolicyStore, { strict: false });
  }

  private get ingestion(): IngestionService {
    return this.modules.get(IngestionService, { strict: false });
  }

  /** One reload at a time: a second request during one gets that one's outcome. */
  reload(by: ReloadActor): Promise<ReloadOutcome> {
    this.reloading ??= this.run(by).finally(() => (this.reloading = null));
    return this.reloading;
  }

  private async run(by: ReloadActor): Promise<ReloadOutcome> {
    const dir = this.config.policiesDir;
    const errors: string[] = [];
    const attempt = <T>(load: () => T): T | null => {
      try {
        return load();
      } catch (error) {
        if (error instanceof PolicyValidationError) errors.push(...error.issues.map(formatIssue));
        else if (error instanceof ProfileError) errors.push(...error.problems);
        else if (error instanceof PolicyError) errors.push(error.message);
        else throw error;
        return null;
      }
    };
    const lifecycle = attempt(() => loadPolicies(dir));
    const duplicates = attempt(() => DuplicatePolicies.load(dir));
    const profiles = attempt(() => VendorProfiles.load(dir, this.config.sources));
    const previousVersion = this.lifecycle.current.version;
    if (!lifecycle || !duplicates || !profiles) {
      this.logger.warn(`policy reload refused, the policies in force stay: ${errors.join('; ')}`);
      await this.audit.recordAlone({
        ...by,
        action: 'policy.reloaded',
        outcome: 'failure',
        detail: { dir, errors, policyVersionInForce: previousVersion },
      });
      return { reloaded: false, errors };
    }
    const otherFiles = digests(dir);
    const lifecycleChanged = await this.lifecycle.adopt(lifecycle, by);
    this.ingestion.usePolicies(duplicates, profiles);
    await this.audit.recordAlone({
      ...by,
      action: 'policy.reloaded',
      outcome: 'success',
      detail: {
        dir,
        policyVersion: lifecycle.version,
        previousVersion,
        lifecycleChanged,
        otherFiles,
      },
    });
    return {
      reloaded: true,
      policyVersion: lifecycle.version,
      previousVersion,
      lifecycleChanged,
      otherFiles,
    };
  }
}

/** duplicates.yaml and profiles/*.yaml by path, each with the SHA-256 of its bytes. */
function digests(dir: string): Record<string, string> {
  const paths = ['duplicates.yaml'].filter((p) => existsSync(join(dir, p)));
  const profiles = join(dir, 'profiles');
  if (existsSync(profiles)) {
    for (const name of readdirSync(profiles).sort()) {
      if (/\.ya?ml$/.test(name)) paths.push(`profiles/${name}`);
    }
  }
  return Object.fromEntries(
    paths.map((p) => [
      p,
      createHash('sha256')
        .update(readFileSync(join(dir, p)))
        .digest('hex'),
    ]),
  );
}
