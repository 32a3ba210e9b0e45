import { type StrataConfig } from '../config/index.js';
import { type BlobBackend } from './backend.js';
import { FilesystemBackend } from './filesystem.backend.js';
import { S3Backend } from './s3.backend.js';
import { SimulatedArchiveBackend } from './simulated-archive.backend.js';

/**
 * Builds every configured backend and checks that each can be used: a filesystem root that can
 * be written, an S3 bucket that exists and answers with these credentials. Start-up stops on the
 * first that cannot, naming it (unknown types and duplicate ids are refused by the config loader).
 */
export async function openBackends(
  storage: StrataConfig['storage'],
): Promise<Map<string, BlobBackend>> {
  const backends = new Map<string, BlobBackend>();
  try {
    for (const [id, config] of Object.entries(storage.backends)) {
      if (config.type === 'filesystem') {
        const backend = new FilesystemBackend(id, config.path);
        backends.set(id, backend);
        await backend.init({ prepareShards: storage.tiers.hot.backend === id });
      } else if (config.type === 's3') {
        const s3 = new S3Backend(id, config);
        backends.set(id, s3);
        await s3.init();
        if (config.simulateRestoreSeconds !== null) {
          backends.set(id, new SimulatedArchiveBackend(s3, config.simulateRestoreSeconds));
        }
      } else {
        throw new Error(`storage backend '${id}': unknown type`);
      }
    }
  } catch (error) {
    await Promise.all([...backends.values()].map((b) => b.close().catch(() => undefined)));
    throw error;
  }
  return backends;
}
