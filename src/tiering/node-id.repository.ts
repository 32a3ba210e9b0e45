import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * This node's id, kept in <data dir>/node-id (made on first start: host name and a random
 * suffix). It names the node in job leases and schedule claims; because it survives a restart,
 * a node that crashed takes its own jobs back at once when it starts again instead of waiting for
 * their leases to expire. Every node needs its own data dir (README: multi-node deployment).
 */
export function readNodeId(dataDir: string): string {
  const file = join(dataDir, 'node-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[\w.:-]{1,200}$/.test(id)) return id;
  } catch {
    // Not made yet.
  }
  const id = `${hostname()
    .replace(/[^\w.-]/g, '-')
    .slice(0, 60)}-${randomBytes(4).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, `${id}\n`, { flag: 'wx' });
    return id;
  } catch {
    // Another process of this data dir made it first (the server and a CLI command): theirs.
    return readFileSync(file, 'utf8').trim();
  }
}
