import { isIP } from 'node:net';
import { z } from 'zod';
import { DICOM_OPERATIONS } from './strata-config.js';
import { dicomTlsSchema, peerTlsSchema } from './dicom-tls-settings.js';
import { syslogSchema } from './syslog-settings.js';

const filesystemBackendSchema = z
  .object({
    type: z.literal('filesystem'),
    /** Folder of the objects; relative paths resolve against the working directory. */
    path: z.string().min(1),
  })
  .strict();

const s3BackendSchema = z
  .object({
    type: z.literal('s3'),
    bucket: z.string().min(3).max(63),
    /** Key prefix inside the bucket (e.g. 'strata/'). */
    prefix: z.string().max(200).optional(),
    region: z.string().min(1).optional(),
    /** For S3-compatible servers (MinIO, Ceph, s3rver...); absent = AWS. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().optional(),
    /** Absent: the standard AWS chain (environment, shared files with `profile`, instance role). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    sessionToken: z.string().min(1).optional(),
    profile: z.string().min(1).optional(),
    connectTimeoutMs: z.number().int().min(100).max(300_000).optional(),
    requestTimeoutMs: z.number().int().min(100).max(3_600_000).optional(),
    /** Attempts per request, with backoff on throttling, 5xx and network errors. */
    maxAttempts: z.number().int().min(1).max(20).optional(),
    /** Multipart upload part size (objects larger than one part are uploaded in parts). */
    partSizeMiB: z.number().int().min(5).max(5120).optional(),
    /**
     * Integrity checksums on requests and responses: 'when-supported' (AWS's default) or
     * 'when-required' (for S3-compatible servers that do not understand them; the default when
     * `endpoint` is set).
     */
    checksums: z.enum(['when-supported', 'when-required']).optional(),
    /**
     * Tests and demos only: simulate Glacier restores (objects of GLACIER / DEEP_ARCHIVE classes
     * readable this many seconds after a restore is requested) on S3-compatible servers that have
     * no archive classes. Never with real S3.
     */
    simulateRestoreSeconds: z.number().int().min(0).max(86_400).optional(),
  })
  .strict()
  .refine((b) => (b.accessKeyId === undefined) === (b.secretAccessKey === undefined), {
    message: 'accessKeyId and secretAccessKey go together',
  });

/** DICOM AE titles: 1-16 printable characters, no backslash (PS3.5 AE). */
const AE_TITLE = /^[\x20-\x5b\x5d-\x7e]{1,16}$/;
/** What a DICOM peer may ask of the archive. */
const dicomAllowSchema = z.array(z.enum(DICOM_OPERATIONS));
/** Source names, as recorded with each instance (also calling AEs and `stow:<token>`). */
const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const tierSchema = z
  .object({
    backend: z.string().min(1),
    /** S3 storage class for objects of this tier (STANDARD_IA, GLACIER, DEEP_ARCHIVE...). */
    storageClass: z
      .string()
      .regex(/^[A-Z_]{2,40}$/)
      .optional(),
    /** How to restore archived objects before reading them (S3 Glacier classes). */
    restore: z
      .object({
        days: z.number().int().min(1).max(365),
        tier: z.enum(['Expedited', 'Standard', 'Bulk']),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The config file (STRATA_CONFIG, YAML). Unknown keys are errors so that a typo never silently
 * falls back to a default. Later issues extend this (tiers, peers, sources).
 */
export const configFileSchema = z
  .object({
    dicom: z
      .object({
        /**
         * C-MOVE/C-GET of a study with copies in an archive storage class (cold, S3 Glacier):
         * 'fail' answers at once with a failure naming when the restore it started will be done;
         * 'wait' keeps the association open (pending responses) until the restore ends, at most
         * `archivedWaitSeconds`.
         */
        retrieveArchived: z.enum(['fail', 'wait']).optional(),
        archivedWaitSeconds: z.number().int().min(1).max(86_400).optional(),
        /** Calling AE titles allowed to associate; absent or empty = everyone. */
        allowedCallingAets: z.array(z.string().min(1).max(16)).optional(),
        /**
         * What AE titles not in `peers` may do: `allow: [store, query, move, get, commit]` (the
         * default: all); `allow: []` refuses their associations.
         */
        unknownPeers: z.object({ allow: dicomAllowSchema }).strict().optional(),
        /**
         * Known DICOM peers by AE title: C-MOVE destinations, Storage Commitment report targets,
         * pull sources. `source` names the source its pushes are recorded under (default: its AE).
         */
        peers: z
          .record(
            z.string().regex(AE_TITLE, 'AE titles are 1-16 printable characters'),
            z
              .object({
                host: z.string().min(1),
                port: z.number().int().min(1).max(65535),
                source: z
                  .string()
                  .regex(SOURCE_NAME, 'a source name: letters, digits, . _ : -')
                  .optional(),
                /** What it may ask: store, query, move, get, commit (default: all; [] = nothing). */
                allow: dicomAllowSchema.optional(),
                /** Associations we open to it use TLS (dicom-tls-settings.ts). */
                tls: peerTlsSchema.optional(),
              })
              .strict(),
          )
          .optional(),
        /** Extra (private) SOP classes accepted for storage besides the standard ones. */
        extraStorageSopClasses: z.array(z.string().regex(/^[0-9.]{1,64}$/)).optional(),
        /** Whether the Called AE Title must equal STRATA_AET. */
        checkCalledAet: z.boolean().optional(),
        maxPduLength: z
          .number()
          .int()
          .min(16384)
          .max(16 * 1024 * 1024)
          .optional(),
        idleTimeoutSeconds: z.number().int().min(1).max(3600).optional(),
        /** A DICOM TLS listener beside the plain port (dicom-tls-settings.ts); absent = none. */
        tls: dicomTlsSchema.optional(),
      })
      .strict()
      .optional(),
    dicomweb: z
      .object({
        /** Largest STOW-RS request body accepted, in bytes. */
        maxStowBytes: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    ingest: z
      .object({
        /** Largest header (dataset bytes before Pixel Data) parsed per instance. */
        maxHeaderBytes: z
          .number()
          .int()
          .min(4096)
          .max(256 * 1024 * 1024)
          .optional(),
        parseTimeoutMs: z.number().int().min(100).max(60000).optional(),
        parserWorkers: z.number().int().min(1).max(16).optional(),
        inlineParseMaxBytes: z.number().int().min(0).max(16777216).optional(),
      })
      .strict()
      .optional(),
    /**
     * Overload limits, across protocols (one place to size a node): beyond them DICOM
     * associations are rejected as transient and STOW-RS answers 503 with Retry-After.
     */
    limits: z
      .object({
        /** Concurrent DICOM associations (every listener, every peer); default 64. */
        maxAssociations: z.number().int().min(1).max(10_000).optional(),
        /** Concurrent STOW-RS requests; default 16. */
        maxStowRequests: z.number().int().min(1).max(10_000).optional(),
        /** Bytes received and not yet stored, all adapters together, in MiB; default 512. */
        maxInFlightMiB: z.number().int().min(1).max(1_048_576).optional(),
        /** The Retry-After of a 503 (seconds); default 5. */
        retryAfterSeconds: z.number().int().min(1).max(3600).optional(),
      })
      .strict()
      .optional(),
    storage: z
      .object({
        /** Where objects are kept, by id. The ids are stored in the catalog: never rename one. */
        backends: z
          .record(
            z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'backend ids are a-z, 0-9 and -'),
            z.discriminatedUnion('type', [filesystemBackendSchema, s3BackendSchema]),
          )
          .optional(),
        /** Which backend (and S3 storage class) holds each tier. Ingest writes to hot. */
        tiers: z
          .object({ hot: tierSchema, warm: tierSchema.optional(), cold: tierSchema.optional() })
          .strict()
          .optional(),
        /**
         * Age after which an object no catalog row references counts as a crash leftover and is
         * removed at start. Default: 0 with the embedded database (this process is the only
         * writer), 900 with DATABASE_URL (other nodes may have writes in flight).
         */
        orphanGraceSeconds: z.number().int().min(0).optional(),
      })
      .strict()
      .optional(),
    fixity: z
      .object({
        /** Cron expression (node-cron, local time) of the scheduled check; 'off' = none. */
        schedule: z.string().min(1).optional(),
        /** Share of locations checked by the scheduled run, in percent (1-100). */
        samplePercent: z.number().min(1).max(100).optional(),
        /** Whether the scheduled run reads the cold tier too (it may cost restores and fees). */
        includeCold: z.boolean().optional(),
      })
      .strict()
      .optional(),
    jobs: z
      .object({
        /**
         * How long a node's claim on a job (tier move, sweep, key re-wrap) lasts without renewal.
         * The node renews it every third of this; a node that dies loses its jobs to another
         * node this long after its last renewal.
         */
        leaseSeconds: z.number().int().min(1).max(3600).optional(),
      })
      .strict()
      .optional(),
    lifecycle: z
      .object({
        /**
         * When each sweep runs: a cron expression (node-cron, local time) or 'off'. With several
         * nodes on one database each tick runs on one node (a lease in PostgreSQL).
         */
        schedules: z
          .object({
            retention: z.string().min(1).optional(),
            tiering: z.string().min(1).optional(),
            purge: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        /**
         * Hours (local time, HH:MM-HH:MM, may wrap midnight) in which a sweep may work, e.g.
         * `tiering: '22:00-06:00'` moves only at night. A sweep outside its window stops and goes on
         * at its next tick in the window.
         */
        windows: z
          .object({
            retention: z.string().optional(),
            tiering: z.string().optional(),
            purge: z.string().optional(),
          })
          .strict()
          .optional(),
        /** Patients (all their studies) evaluated per batch, with one checkpoint per batch. */
        batchSize: z.number().int().min(1).max(10_000).optional(),
        /** Most studies a sweep acts on (expires, purges, moves) per second; 0 = unlimited. */
        maxActionsPerSecond: z.number().min(0).max(100_000).optional(),
      })
      .strict()
      .optional(),
    /**
     * Where instances come from, by source name (recorded with each instance; duplicate policies
     * and the offload ledger go by it). Each names the ingestion adapter that serves it; keys other
     * than these are the adapter's own (a folder-import source's `path`...), checked by the adapter
     * at start, so that adding an adapter touches nothing here.
     */
    sources: z
      .record(
        z.string().regex(SOURCE_NAME, 'a source name: letters, digits, . _ : -'),
        z
          .object({
            adapter: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'an adapter id: a-z, 0-9 and -'),
            /** A configured peer (dicom.peers): its pushes, and pulls from it, are recorded here. */
            peer: z.string().regex(AE_TITLE, 'AE titles are 1-16 printable characters').optional(),
            /** A vendor profile (policies/profiles/<name>.yaml) applied to its instances on ingest. */
            profile: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
              .optional(),
            /** Cron expression (node-cron, local time) of a pull adapter's runs; 'off' = none. */
            schedule: z.string().min(1).optional(),
          })
          .catchall(z.unknown()),
      )
      .optional(),
    audit: z
      .object({
        /**
         * A signed checkpoint of the audit chain's head every `rows` rows or `minutes` minutes,
         * whichever comes first (default 10000 rows, 5 minutes).
         */
        checkpointEvery: z
          .object({
            rows: z.number().int().min(1).max(10_000_000).optional(),
            minutes: z.number().min(0.1).max(10_080).optional(),
          })
          .strict()
          .optional(),
        /** Where the trail is sent as DICOM audit messages over syslog (syslog-settings.ts). */
        syslog: syslogSchema.optional(),
      })
      .strict()
      .optional(),
    keys: z
      .object({
        /** Armored OpenPGP private key file; absent = generated in <data dir>/keys on first start. */
        privateKeyFile: z.string().optional(),
        /** Extra recipients (e.g. an escrow key) every study session key is also wrapped for. */
        extraRecipientFiles: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;

const port = z.coerce.number().int().min(0).max(65535);

/** Environment variables (the external contract in ARCHITECTURE.md). */
export const envSchema = z.object({
  STRATA_DATA_DIR: z.string().min(1).default('./data'),
  STRATA_CONFIG: z.string().min(1).optional(),
  STRATA_POLICIES_DIR: z.string().min(1).default('./policies'),
  STRATA_AET: z
    .string()
    .regex(/^[\x20-\x5b\x5d-\x7e]{1,16}$/, 'must be 1-16 printable characters without backslash')
    .refine((s) => s.trim().length > 0, 'must not be blank')
    .default('STRATA'),
  STRATA_DICOM_PORT: port.default(11112),
  /** The DICOM TLS port, over dicom.tls.port (which must be configured). */
  STRATA_DICOM_TLS_PORT: port.optional(),
  STRATA_HTTP_PORT: port.default(8080),
  STRATA_BIND_HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  STRATA_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  STRATA_KEY_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  STRATA_LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** json: one JSON object per line (for log collectors); text: one readable line. */
  STRATA_LOG_FORMAT: z.enum(['json', 'text']).default('json'),
  /**
   * Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the archive believes (audit records
   * the client's address, not the proxy's): 'loopback', or a comma-separated list of addresses and
   * CIDR ranges. Unset: none (the headers are ignored).
   */
  /**
   * Seconds between SIGTERM and closing the listeners, during which /ready answers 503 and work
   * still arrives and is served: long enough for a load balancer's health check to take the node
   * out (e.g. 10). 0 (the default): close at once.
   */
  STRATA_SHUTDOWN_DRAIN_SECONDS: z.coerce.number().int().min(0).max(600).default(0),
  STRATA_TRUST_PROXY: z
    .string()
    .refine(
      (v) => v.split(',').every((a) => isProxyAddress(a.trim())),
      'must be loopback, linklocal, uniquelocal, or addresses and CIDR ranges, comma-separated',
    )
    .optional(),
  /** Tests only: the lifecycle clock's date (ISO 8601), instead of the real time. */
  STRATA_TEST_NOW: z.iso.datetime({ offset: true }).optional(),
  /** Tests only: kill the process (SIGKILL) at a named point, e.g. 'move:copied'. */
  STRATA_TEST_FAILPOINT: z.string().min(1).optional(),
});

export type Env = z.infer<typeof envSchema>;

/** What Express's 'trust proxy' accepts: a named range, an address, or address/prefix. */
function isProxyAddress(a: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(a)) return true;
  const [address, prefix, ...rest] = a.split('/');
  const version = isIP(address ?? '');
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && bits <= (version === 4 ? 32 : 128);
}
