import { type BlobBackend } from './backend.js';
import { type LocationRepository } from './location.repository.js';

/**
 * Removes objects that no catalog row references: what a crash leaves when it strikes after an
 * object was made durable but before its catalog transaction committed. Only objects older than
 * `graceMs` are touched, so a write in flight on another node or process is never taken for an orphan.
 */
export async function sweepOrphans(
  backend: BlobBackend,
  locations: LocationRepository,
  graceMs: number,
  now = Date.now(),
): Promise<number> {
  let removed = 0;
  let batch: { key: string; modifiedAt: Date }[] = [];
  const flush = async () => {
    const referenced = await locations.referenced(
      backend.id,
      batch.map((o) => o.key),
    );
    for (const o of batch) {
      if (!referenced.has(o.key) && now - o.modifiedAt.getTime() >= graceMs) {
        await backend.delete(o.key);
        removed++;
      }
    }
    batch = [];
  };
  for await (const o of backend.list()) {
    batch.push(o);
    if (batch.length >= 1000) await flush();
  }
  await flush();
  return removed;
}
