import { type SourceConfig } from '../../config/index.js';

/**
 * push: a peer sends (C-STORE, STOW-RS); pull: the archive fetches on a schedule from a source's
 * peer, from a checkpoint; import: files handed over (a folder, a zip, media, a drop folder).
 */
export type AdapterKind = 'push' | 'pull' | 'import';

/** What an adapter handed the pipeline, since this process started. */
export interface IngestCounters {
  /** Instances handed to the pipeline (each of the following counts one). */
  received: number;
  stored: number;
  newVersions: number;
  /** The same bytes again, or a different copy the duplicate policy did not keep (kept-first). */
  duplicates: number;
  refused: number;
  /** Dataset bytes of the instances accepted (stored, new versions and duplicates). */
  bytes: number;
  /** ISO 8601 time of the last instance, null before the first. */
  lastActivityAt: string | null;
}

/** One source as its adapter sees it. */
export interface SourceStatus {
  counters: IngestCounters;
  /** Adapter-specific, for people: 'watching /srv/drop', 'folder missing'... */
  detail?: string;
  /** Pull adapters: where the next run starts (their cursor, as text). */
  checkpoint?: string | null;
}

export interface AdapterStatus {
  running: boolean;
  startedAt: string | null;
  counters: IngestCounters;
  /**
   * By source name: every configured source of the adapter, and every other source it has seen
   * (a calling AE title that is no configured peer, a `stow:<token>`).
   */
  sources: Record<string, SourceStatus>;
}

export interface AdapterHealth {
  ok: boolean;
  detail?: string;
}

/**
 * An ingestion adapter: one folder under src/ingestion/adapters/, turning a transport into
 * IngestRequests for the one pipeline (IngestionService.ingest). Its module provides the adapter
 * class and exports it; a line in registered-adapters.ts adds both to the INGESTION_ADAPTERS
 * token, which AdapterRegistry reads: it fails at start on a duplicate id and on a configured
 * source naming an unknown adapter or with settings the adapter refuses (`checkSource`), then
 * starts every adapter once the other modules are up, and stops them at shutdown.
 *
 * Pull adapters (dimse-pull, dicomweb-pull, orthanc-pull) fit as kind 'pull': their sources carry
 * `peer` and `schedule` (validated cron) in the config file, start() schedules the runs, and each
 * source's checkpoint is kept in the catalog and shown through SourceStatus.checkpoint.
 */
export interface IngestionAdapter {
  /** Stable id, as configured sources name it: 'dimse-push', 'stow-push', 'folder-import'. */
  readonly id: string;
  readonly kind: AdapterKind;
  /** What it can do, for people and the API: 'c-store-scp', 'zip', 'drop-folder'... */
  readonly capabilities: readonly string[];
  /** Problems with a configured source of this adapter (its own keys), one line each; [] if none. */
  checkSource?(source: SourceConfig): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): Promise<AdapterHealth>;
  status(): AdapterStatus;
}

/** DI token: the array of every registered adapter (see registered-adapters.ts). */
export const INGESTION_ADAPTERS = Symbol('INGESTION_ADAPTERS');

/** The configured sources an adapter serves. */
export function sourcesOf(
  sources: Record<string, SourceConfig>,
  adapterId: string,
): SourceConfig[] {
  return Object.values(sources).filter((s) => s.adapter === adapterId);
}
