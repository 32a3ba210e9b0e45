import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  RestoreObjectCommand,
  S3Client,
  type S3ClientConfig,
  type StorageClass,
  type Tier,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { PassThrough, type Readable } from 'node:stream';
import { type S3BackendConfig } from '../config/index.js';
import { S3EtagCalculator } from './s3-etag.js';
import {
  type BlobBackend,
  type ByteRange,
  type ObjectWriter,
  type RestoreState,
  type WriteOptions,
  randomObjectKey,
  writeAll,
} from './backend.js';

const UNSIGNED_BODY_COMMANDS: ReadonlySet<string> = new Set([
  'PutObjectCommand',
  'UploadPartCommand',
]);

/** An ETag as stored in the catalog: without quotes, lower case. */
function normalizeEtag(etag: string): string {
  return etag.replace(/"/g, '').toLowerCase();
}

/** Storage classes whose objects must be restored before they can be read. */
const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** Parts uploaded in parallel by one multipart upload: memory is at most this × the part size. */
const QUEUE_SIZE = 4;

/** What a failed S3 call means for the caller, with the S3 error code kept for the log. */
export class S3BackendError extends Error {
  constructor(
    message: string,
    /** 'ENOENT' for a missing object, like a file system, so callers treat both alike. */
    readonly code: string,
    readonly s3Code: string | null,
  ) {
    super(message);
  }
}

interface AwsError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function describe(error: unknown): { code: string | null; status: number | null; text: string } {
  const e = error as AwsError;
  const code = e?.Code ?? e?.name ?? null;
  const status = e?.$metadata?.httpStatusCode ?? null;
  return { code, status, text: `${code ?? 'error'}${status ? ` (HTTP ${status})` : ''}` };
}

function isNotFound(error: unknown): boolean {
  const { code, status } = describe(error);
  return status === 404 || code === 'NoSuchKey' || code === 'NotFound';
}

/**
 * Objects in an S3 bucket (AWS or an S3-compatible server) under an optional key prefix: streamed
 * multipart uploads (lib-storage), ranged GETs, a storage class per write. The SDK retries with
 * backoff on throttling, 5xx and network errors (`maxAttempts`), within per-request timeouts.
 * Knows nothing of DICOM or policy.
 */
export class S3Backend implements BlobBackend {
  readonly kind = 's3';
  private readonly client: S3Client;

  constructor(
    readonly id: string,
    private readonly config: S3BackendConfig,
    client?: S3Client,
  ) {
    this.client = client ?? new S3Client(clientConfig(config));
    // Object bodies are not hashed for the request signature: each upload is verified end to end
    // instead (the ETag must be the MD5 of the bytes sent, or the copy is read back), and the
    // objects are AEAD ciphertext, so a change in transit cannot go unnoticed. Saves a SHA-256
    // pass over every byte uploaded.
    this.client.middlewareStack.add(
      (next, context) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (UNSIGNED_BODY_COMMANDS.has(context.commandName ?? '') && request.headers) {
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'strataUnsignedPayload' },
    );
  }

  probe(): Promise<void> {
    return this.init();
  }

  /** Fails, with the reason, when the bucket cannot be reached, does not exist or is forbidden. */
  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (error) {
      const { code, status, text } = describe(error);
      const why =
        status === 404 || code === 'NotFound' || code === 'NoSuchBucket'
          ? 'the bucket does not exist'
          : status === 403 || status === 401
            ? 'access denied (check the credentials)'
            : `unreachable: ${text === 'error' ? String((error as Error)?.message) : text}`;
      throw new Error(
        `storage backend '${this.id}' (s3 bucket ${this.config.bucket}${this.config.endpoint ? ` at ${this.config.endpoint}` : ''}): ${why}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.config.prefix + key;
  }

  async put(key: string, data: Readable, options: WriteOptions = {}): Promise<{ size: number }> {
    return writeAll(this.openWriter(key, options), data);
  }

  openWriter(key?: string, options: WriteOptions = {}): ObjectWriter {
    const chosen = key ?? randomObjectKey();
    const storageClass = options.storageClass
      ? { StorageClass: options.storageClass as StorageClass }
      : {};
    return new S3ObjectWriter(
      chosen,
      this.config.partSizeBytes,
      (error) => this.failure('write', chosen, error),
      (body) =>
        new Upload({
          client: this.client,
          params: {
            Bucket: this.config.bucket,
            Key: this.objectKey(chosen),
            Body: body,
            ...storageClass,
          },
          partSize: this.config.partSizeBytes,
          queueSize: QUEUE_SIZE,
          leavePartsOnError: false,
        }),
      (body) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.config.bucket,
            Key: this.objectKey(chosen),
            Body: body,
            ContentLength: body.length,
            ...storageClass,
          }),
        ),
    );
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      return out.Body as Readable;
    } catch (error) {
      throw this.failure('read', key, error);
    }
  }

  async head(key: string): Promise<{ size: number; modifiedAt: Date; checksum?: string } | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }),
      );
      return {
        size: Number(out.ContentLength ?? 0),
        modifiedAt: out.LastModified ?? new Date(0),
        ...(out.ETag ? { checksum: normalizeEtag(out.ETag) } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.failure('head', key, error);
    }
  }

  /** From HeadObject: the storage class and the `x-amz-restore` state. */
  async restoreState(key: string): Promise<RestoreState> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }),
      );
      if (out.Restore) return /ongoing-request="true"/.test(out.Restore) ? 'in-progress' : 'ready';
      return out.StorageClass && ARCHIVE_CLASSES.has(out.StorageClass) ? 'archived' : 'ready';
    } catch (error) {
      throw this.failure('head', key, error);
    }
  }

  async requestRestore(key: string, options: { days: number; tier: string }): Promise<void> {
    try {
      await this.client.send(
        new RestoreObjectCommand({
          Bucket: this.config.bucket,
          Key: this.objectKey(key),
          RestoreRequest: {
            Days: options.days,
            GlacierJobParameters: { Tier: options.tier as Tier },
          },
        }),
      );
    } catch (error) {
      // Asked already: that is what we want.
      if (describe(error).code === 'RestoreAlreadyInProgress') return;
      throw this.failure('restore', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }),
      );
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.failure('delete', key, error);
    }
  }

  async *list(): AsyncIterable<{ key: string; size: number; modifiedAt: Date }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.config.bucket,
          Prefix: this.config.prefix || undefined,
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key.slice(this.config.prefix.length),
          size: Number(o.Size ?? 0),
          modifiedAt: o.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private failure(what: string, key: string, error: unknown): S3BackendError {
    const { code, text } = describe(error);
    if (isNotFound(error)) {
      return new S3BackendError(
        `object ${key} is missing from backend '${this.id}'`,
        'ENOENT',
        code,
      );
    }
    return new S3BackendError(
      `backend '${this.id}': ${what} of ${key} failed: ${text}`,
      code === 'InvalidObjectState' ? 'NOT_RESTORED' : 'EIO',
      code,
    );
  }
}

function clientConfig(c: S3BackendConfig): S3ClientConfig {
  return {
    region: c.region,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    forcePathStyle: c.forcePathStyle,
    ...(c.credentials ? { credentials: c.credentials } : {}),
    ...(c.profile ? { profile: c.profile } : {}),
    maxAttempts: c.maxAttempts,
    retryMode: 'standard',
    requestHandler: new NodeHttpHandler({
      connectionTimeout: c.connectTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      // Without it a request past its timeout only logs a warning and waits on.
      throwOnRequestTimeout: true,
    }),
    requestChecksumCalculation:
      c.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation:
      c.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  };
}

/** Sends a whole small object in one PutObject; resolves with the server's answer. */
type PutWhole = (body: Buffer) => Promise<{ ETag?: string }>;

/**
 * Writes one object. Up to one part's size it keeps the bytes and sends them in a single
 * PutObject at `finish` (what lib-storage would do too, without its chunking machinery: most DICOM
 * objects are this size); past that it switches to a streamed multipart upload (lib-storage),
 * whose PassThrough applies backpressure to `write`. `abort` cancels either (and the parts).
 */
class S3ObjectWriter implements ObjectWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private multipart: { body: PassThrough; upload: Upload; done: Promise<unknown> } | null = null;
  private failure: Error | null = null;
  private size = 0;
  private readonly etag: S3EtagCalculator;

  constructor(
    readonly key: string,
    private readonly partSize: number,
    private readonly describeFailure: (error: unknown) => Error,
    private readonly makeUpload: (body: Readable) => Upload,
    private readonly putWhole: PutWhole,
  ) {
    this.etag = new S3EtagCalculator(partSize);
  }

  write(pieces: readonly Buffer[]): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    let full = false;
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      this.size += piece.length;
      this.etag.update(piece);
      if (this.multipart) {
        full = !this.multipart.body.write(piece) || full;
        continue;
      }
      this.buffered.push(piece);
      this.bufferedBytes += piece.length;
      if (this.bufferedBytes > this.partSize) full = !this.startMultipart() || full;
    }
    if (!full) return undefined;
    const body = this.multipart!.body;
    return new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        body.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        body.off('drain', onDrain);
        reject(this.failure ?? new Error('the upload was aborted'));
      };
      body.once('drain', onDrain);
      body.once('close', onClose);
    });
  }

  /** Past one part: a multipart upload fed what was kept so far. False when it needs a drain. */
  private startMultipart(): boolean {
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    const upload = this.makeUpload(body);
    const done = upload.done();
    done.catch((e: unknown) => {
      // Named after the backend and the key, like every other failure of this backend.
      this.failure ??= this.describeFailure(e);
      body.destroy();
    });
    this.multipart = { body, upload, done };
    let ok = true;
    for (const piece of this.buffered) ok = body.write(piece) && ok;
    this.buffered = [];
    this.bufferedBytes = 0;
    return ok;
  }

  async finish(): Promise<{ size: number; confirmed: boolean; checksum?: string }> {
    if (this.failure) throw this.failure;
    let out: { ETag?: string };
    if (this.multipart) {
      this.multipart.body.end();
      try {
        out = (await this.multipart.done) as { ETag?: string };
      } catch (error) {
        throw this.failure ?? error;
      }
    } else {
      const whole = Buffer.concat(this.buffered, this.bufferedBytes);
      this.buffered = [];
      try {
        out = await this.putWhole(whole);
      } catch (error) {
        this.failure = this.describeFailure(error);
        throw this.failure;
      }
    }
    const confirmed = this.etag.matches(out.ETag);
    return {
      size: this.size,
      confirmed,
      ...(confirmed && out.ETag ? { checksum: normalizeEtag(out.ETag) } : {}),
    };
  }

  async abort(): Promise<void> {
    this.failure ??= new Error('the upload was aborted');
    this.buffered = [];
    if (!this.multipart) return;
    this.multipart.body.destroy();
    await this.multipart.upload.abort().catch(() => undefined);
    await this.multipart.done.catch(() => undefined);
  }
}
