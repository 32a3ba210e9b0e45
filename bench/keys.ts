/**
 * Key rotation rate, measured inside the tier benchmark (bench/tiers.ts) on its running Strata:
 * `count` study session keys are made the way ingest makes them (one per study, wrapped for the
 * archive key); Strata restarts, so that no session key is in its cache (each must be unwrapped,
 * as in an archive whose studies were not just touched); then a rotation runs through the HTTP API
 * (new archive key, re-wrap job) and is timed until its job ends. Target (issue 3): 10,000
 * studies in under 30 s.
 */
import { randomUUID } from 'node:crypto';
import { type RunningStrata } from '../src/strata.js';
import { KeyService } from '../src/storage/index.js';

export interface RotationFigures {
  studies: number;
  seconds: number;
  studiesPerSecond: number;
  sessionKeysWrapped: number;
}

/** A DICOM UID under 2.25 (UUID-derived), like the ones modalities make. */
const uid = () => `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;

export async function measureKeyRotation(
  strata: RunningStrata,
  count: number,
  restart: () => Promise<RunningStrata>,
  token: string,
  log: (line: string) => void,
): Promise<RotationFigures> {
  const keys = strata.app.get(KeyService);
  let next = 0;
  const make = async () => {
    while (next++ < count) await keys.forStudy(uid());
  };
  await Promise.all(Array.from({ length: 8 }, make));
  log(`made ${count} study session keys`);
  const restarted = await restart();
  const api = async (method: string, path: string) => {
    const res = await fetch(`${restarted.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    return (await res.json()) as Record<string, unknown>;
  };
  const t = performance.now();
  const started = await api('POST', '/api/keys/rotate');
  const id = String((started.job as { id: string }).id);
  let job: Record<string, unknown>;
  for (;;) {
    job = await api('GET', `/api/jobs/${id}`);
    if (job.status === 'done' || job.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t) / 1000;
  if (job.status !== 'done') throw new Error(`the rotation failed: ${String(job.error)}`);
  const result = job.result as { studies: number; added: number };
  log(`rotation: ${result.studies} studies in ${seconds.toFixed(2)} s`);
  return {
    studies: result.studies,
    seconds,
    studiesPerSecond: result.studies / seconds,
    sessionKeysWrapped: result.added,
  };
}
