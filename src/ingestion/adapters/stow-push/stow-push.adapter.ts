import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { type SourceConfig, STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { type IngestResult } from '../../ingest-request.js';
import {
  type AdapterHealth,
  type AdapterStatus,
  type IngestionAdapter,
  sourcesOf,
} from '../adapter.js';
import { AdapterActivity } from '../adapter-activity.js';
import { optionProblems } from '../source-options.js';

/** A stow-push source's own key: the API token (by name) whose STOW requests it takes. */
const optionsSchema = z.object({ token: z.string().min(1).max(64) }).strict();

/**
 * The stow-push adapter's registry face: STOW-RS itself is StowController's (HTTP is served by
 * Nest); this maps a request's token to its source and keeps the counters. A token that no
 * configured source names is recorded as `stow:<token name>`, as it always was.
 */
@Injectable()
export class StowPushAdapter implements IngestionAdapter {
  readonly id = 'stow-push';
  readonly kind = 'push';
  readonly capabilities = ['stow-rs'] as const;
  private readonly activity = new AdapterActivity();
  private readonly byToken = new Map<string, string>();

  constructor(@Inject(STRATA_CONFIG) private readonly config: StrataConfig) {
    for (const s of sourcesOf(config.sources, this.id)) {
      const token = s.options.token;
      if (typeof token === 'string' && !this.byToken.has(token)) this.byToken.set(token, s.name);
    }
  }

  checkSource(source: SourceConfig): string[] {
    const problems = optionProblems(optionsSchema, source.options);
    const owner = this.byToken.get(String(source.options.token));
    if (problems.length === 0 && owner !== source.name) {
      problems.push(`token: '${String(source.options.token)}' is already the token of '${owner}'`);
    }
    return problems;
  }

  /** The source a STOW request by this token's owner is recorded under. */
  sourceFor(tokenName: string): string {
    return this.byToken.get(tokenName) ?? `stow:${tokenName}`;
  }

  count(source: string, result: IngestResult): void {
    this.activity.count(source, result);
  }

  async start(): Promise<void> {
    this.activity.started();
  }

  async stop(): Promise<void> {
    this.activity.stopped();
  }

  async health(): Promise<AdapterHealth> {
    return { ok: this.activity.isRunning, detail: 'POST /dicomweb/studies' };
  }

  status(): AdapterStatus {
    return this.activity.status(sourcesOf(this.config.sources, this.id).map((s) => s.name));
  }
}
