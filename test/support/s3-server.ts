import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/**
 * s3rver, a real S3-protocol server keeping objects in a folder, on 127.0.0.1 and a free port.
 * It has no Glacier semantics (STACK.md): the restore flow is tested through a decorator.
 */
export async function startS3Server(): Promise<{
  endpoint: string;
  directory: string;
  stop: () => Promise<void>;
}> {
  const directory = mkdtempSync(join(tmpdir(), 'strata-test-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const address = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    directory,
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
