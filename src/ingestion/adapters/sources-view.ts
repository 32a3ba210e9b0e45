import { type SourceConfig } from '../../config/index.js';
import {
  type AdapterHealth,
  type AdapterKind,
  type AdapterStatus,
  type IngestCounters,
  type IngestionAdapter,
} from './adapter.js';

export interface SourceView {
  name: string;
  /** In the config file; false for a source only seen (a calling AE, a `stow:<token>`). */
  configured: boolean;
  adapter: string;
  kind: AdapterKind;
  peer: string | null;
  profile: string | null;
  schedule: string | null;
  /** The adapter's own settings (secrets hidden). */
  options: Record<string, unknown>;
  /** Whether its adapter runs, and its adapter's health. */
  running: boolean;
  health: AdapterHealth;
  detail?: string;
  checkpoint?: string | null;
  counters: IngestCounters;
}

export interface AdapterView {
  id: string;
  kind: AdapterKind;
  capabilities: readonly string[];
  running: boolean;
  startedAt: string | null;
  health: AdapterHealth;
  counters: IngestCounters;
}

export interface SourcesView {
  sources: SourceView[];
  adapters: AdapterView[];
}

const SECRET = /pass(word)?|secret|credential|api-?key|private/i;

function redact(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(options).map(([k, v]) => [k, SECRET.test(k) ? '(hidden)' : v]),
  );
}

/**
 * GET /api/sources: every configured source and every source an adapter has seen since start,
 * each with its adapter's id, kind, state and health and its own counters; then the adapters.
 */
export function sourcesView(
  configured: Record<string, SourceConfig>,
  adapters: readonly { adapter: IngestionAdapter; status: AdapterStatus; health: AdapterHealth }[],
): SourcesView {
  const sources: SourceView[] = [];
  for (const { adapter, status, health } of adapters) {
    for (const [name, s] of Object.entries(status.sources)) {
      const config = configured[name]?.adapter === adapter.id ? configured[name] : undefined;
      sources.push({
        name,
        configured: config !== undefined,
        adapter: adapter.id,
        kind: adapter.kind,
        peer: config?.peer ?? null,
        profile: config?.profile ?? null,
        schedule: config?.schedule ?? null,
        options: redact(config?.options ?? {}),
        running: status.running,
        health,
        ...(s.detail !== undefined ? { detail: s.detail } : {}),
        ...(s.checkpoint !== undefined ? { checkpoint: s.checkpoint } : {}),
        counters: s.counters,
      });
    }
  }
  sources.sort((a, b) =>
    a.configured !== b.configured ? (a.configured ? -1 : 1) : a.name.localeCompare(b.name),
  );
  return {
    sources,
    adapters: adapters.map(({ adapter, status, health }) => ({
      id: adapter.id,
      kind: adapter.kind,
      capabilities: adapter.capabilities,
      running: status.running,
      startedAt: status.startedAt,
      health,
      counters: status.counters,
    })),
  };
}
