import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type S3BackendConfig } from '../../src/config/index.js';

/** s3rver checks request signatures against these (its defaults). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export function s3Endpoint(): string {
  return inject('s3').endpoint;
}

/** The folder s3rver keeps its objects in (to look for plaintext at rest). */
export function s3Directory(): string {
  return inject('s3').directory;
}

export function testS3Client(endpoint = s3Endpoint()): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A new, empty bucket on the run's s3rver. */
export async function createTestBucket(): Promise<string> {
  const name = `strata-${randomBytes(6).toString('hex')}`;
  const client = testS3Client();
  await client.send(new CreateBucketCommand({ Bucket: name }));
  client.destroy();
  return name;
}

/** An S3 backend config for `bucket` on the run's s3rver (or on `endpoint`). */
export function s3BackendConfig(
  bucket: string,
  overrides: Partial<S3BackendConfig> = {},
): S3BackendConfig {
  return {
    type: 's3',
    bucket,
    prefix: '',
    region: 'us-east-1',
    endpoint: s3Endpoint(),
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    profile: null,
    connectTimeoutMs: 2_000,
    requestTimeoutMs: 30_000,
    maxAttempts: 3,
    partSizeBytes: 5 * 1024 * 1024,
    checksums: 'when-required',
    simulateRestoreSeconds: null,
    ...overrides,
  };
}

/** The same as YAML for a config file's storage.backends entry. */
export function s3BackendYaml(bucket: string, endpoint = s3Endpoint()): string {
  return (
    `{ type: s3, bucket: ${bucket}, endpoint: '${endpoint}', region: us-east-1, ` +
    `forcePathStyle: true, accessKeyId: S3RVER, secretAccessKey: S3RVER }`
  );
}
