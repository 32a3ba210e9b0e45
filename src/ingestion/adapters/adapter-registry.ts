import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  ConfigError,
  type SourceConfig,
  STRATA_CONFIG,
  type StrataConfig,
} from '../../config/index.js';
import { INGESTION_ADAPTERS, type IngestionAdapter } from './adapter.js';

/** Two adapters claim one id: a programming error, found at start. */
export class DuplicateAdapterError extends Error {}

/** Indexes the adapters by id; throws naming every id registered more than once. */
export function indexAdapters(
  adapters: readonly IngestionAdapter[],
): Map<string, IngestionAdapter> {
  const byId = new Map<string, IngestionAdapter>();
  const twice = new Set<string>();
  for (const a of adapters) {
    if (byId.has(a.id)) twice.add(a.id);
    else byId.set(a.id, a);
  }
  if (twice.size > 0) {
    throw new DuplicateAdapterError(
      `ingestion adapter id registered more than once: ${[...twice].join(', ')}`,
    );
  }
  return byId;
}

/**
 * Checks every configured source against the adapters: it must name a registered adapter, and
 * that adapter must accept its settings. Throws a ConfigError listing every problem, so that one
 * start-up names them all.
 */
export function checkSources(
  sources: Record<string, SourceConfig>,
  adapters: ReadonlyMap<string, IngestionAdapter>,
): void {
  const problems: string[] = [];
  for (const source of Object.values(sources)) {
    const adapter = adapters.get(source.adapter);
    if (!adapter) {
      problems.push(
        `sources.${source.name}.adapter: unknown adapter '${source.adapter}' (known: ${[...adapters.keys()].join(', ')})`,
      );
      continue;
    }
    for (const p of adapter.checkSource?.(source) ?? [])
      problems.push(`sources.${source.name}: ${p}`);
  }
  if (problems.length > 0) throw new ConfigError(`config file: ${problems.join('; ')}`);
}

/**
 * The adapter registry: the adapters registered under INGESTION_ADAPTERS (registered-adapters.ts),
 * by id. It checks them and the configured sources once every module is initialised (errors in a
 * Nest constructor would abort the process instead of stopping it with a message), starts them
 * when the application has bootstrapped (after the storage start-up sweep and the DIMSE service
 * registrations), and stops them in reverse order at shutdown.
 */
@Injectable()
export class AdapterRegistry
  implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger('Adapters');
  private byId = new Map<string, IngestionAdapter>();
  private started: IngestionAdapter[] = [];

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    @Inject(INGESTION_ADAPTERS) private readonly registered: IngestionAdapter[],
  ) {}

  onModuleInit(): void {
    this.byId = indexAdapters(this.registered);
    checkSources(this.config.sources, this.byId);
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const adapter of this.byId.values()) {
      try {
        await adapter.start();
      } catch (error) {
        await this.onApplicationShutdown();
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`ingestion adapter '${adapter.id}' could not start: ${message}`, {
          cause: error,
        });
      }
      this.started.push(adapter);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    for (const adapter of this.started.reverse()) {
      await adapter
        .stop()
        .catch((e: unknown) => this.logger.error(`could not stop '${adapter.id}': ${String(e)}`));
    }
    this.started = [];
  }

  list(): IngestionAdapter[] {
    return [...this.byId.values()];
  }
}
