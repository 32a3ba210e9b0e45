import cron from 'node-cron';
import { type ConfigFile } from './config.schema.js';
import { ConfigError } from './config-error.js';
import { type SourceConfig } from './strata-config.js';

type PeerEntries = NonNullable<NonNullable<ConfigFile['dicom']>['peers']>;

/**
 * The configured sources, and for each peer a source names, the source its instances are recorded
 * under. A peer belongs to at most one source, and a peer's own `source` key, when given, must
 * agree: two names for one peer would split its ledger and its duplicate policy.
 */
export function sourceSettings(
  file: ConfigFile['sources'],
  filePeers: PeerEntries | undefined,
): { sources: Record<string, SourceConfig>; peerSources: Record<string, string> } {
  const peers = new Map(Object.entries(filePeers ?? {}).map(([ae, p]) => [ae.trim(), p]));
  const sources: Record<string, SourceConfig> = {};
  const peerSources: Record<string, string> = {};
  for (const [name, s] of Object.entries(file ?? {})) {
    const { adapter, peer: rawPeer, profile, schedule, ...options } = s;
    const where = `config file: sources.${name}`;
    const peer = rawPeer?.trim() ?? null;
    if (peer !== null) {
      const entry = peers.get(peer);
      if (!entry) {
        const known = [...peers.keys()].join(', ') || 'none configured';
        throw new ConfigError(`${where}.peer: '${peer}' is not one of dicom.peers (${known})`);
      }
      if (peerSources[peer]) {
        throw new ConfigError(
          `${where}.peer: '${peer}' is already the peer of source '${peerSources[peer]}'`,
        );
      }
      if (entry.source !== undefined && entry.source !== name) {
        throw new ConfigError(
          `${where}.peer: dicom.peers.${peer}.source is '${entry.source}': a peer's instances go to one source`,
        );
      }
      peerSources[peer] = name;
    }
    if (schedule !== undefined && schedule !== 'off' && !cron.validate(schedule)) {
      throw new ConfigError(`${where}.schedule: '${schedule}' is not a cron expression`);
    }
    sources[name] = {
      name,
      adapter,
      peer,
      profile: profile ?? null,
      schedule: schedule === undefined || schedule === 'off' ? null : schedule,
      options,
    };
  }
  return { sources, peerSources };
}
