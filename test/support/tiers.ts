import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { expect } from 'vitest';
import { filesUnder } from './object-files.js';
import { s3BackendYaml, testS3Client } from './s3.js';

/**
 * A three-tier layout for tests: hot and cold as folders under the data dir, warm on s3rver
 * (STANDARD_IA), so that every move crosses backends of both kinds.
 */
export function threeTierYaml(dataDir: string, bucket: string, s3Endpoint?: string): string {
  return `storage:
  backends:
    local: { type: filesystem, path: '${join(dataDir, 'objects', 'hot')}' }
    archive: ${s3BackendYaml(bucket, s3Endpoint)}
    vault: { type: filesystem, path: '${join(dataDir, 'objects', 'cold')}' }
  tiers:
    hot: { backend: local }
    warm: { backend: archive, storageClass: STANDARD_IA }
    cold: { backend: vault }
`;
}

/** Non-empty object files under a filesystem backend's folder, as keys (.tmp left out). */
export function folderKeys(dir: string): string[] {
  return filesUnder(dir).filter((f) => !f.startsWith('.tmp/'));
}

export async function bucketKeys(bucket: string): Promise<string[]> {
  const client = testS3Client();
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  client.destroy();
  return keys.sort();
}

/**
 * Every object in every backend is referenced by exactly one location, and every location's
 * object exists: nothing orphaned, nothing lost.
 */
export async function expectBackendsMatchLocations(
  query: (sql: string) => Promise<{ backend: string; key: string }[]>,
  dataDir: string,
  bucket: string,
): Promise<void> {
  const locations = await query('SELECT backend, key FROM locations ORDER BY backend, key');
  const expected = (backend: string) =>
    locations
      .filter((l) => l.backend === backend)
      .map((l) => l.key)
      .sort();
  expect(folderKeys(join(dataDir, 'objects', 'hot')), 'hot folder vs locations').toEqual(
    expected('local'),
  );
  expect(await bucketKeys(bucket), 'warm bucket vs locations').toEqual(expected('archive'));
  expect(folderKeys(join(dataDir, 'objects', 'cold')), 'cold folder vs locations').toEqual(
    expected('vault'),
  );
}
