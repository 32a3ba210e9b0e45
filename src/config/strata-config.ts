import { type DicomPeerTls, type DicomTlsConfig } from './dicom-tls-settings.js';
import { type SyslogConfig } from './syslog-settings.js';

/** The typed, validated configuration every context reads. Built once, by loadConfig(). */
export interface StrataConfig {
  dataDir: string;
  configFile: string | null;
  policiesDir: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'json' | 'text';
  /** STRATA_SHUTDOWN_DRAIN_SECONDS: not ready, still serving, before the listeners close. */
  shutdownDrainMs: number;
  /** Tests only (STRATA_TEST_FAILPOINT): where to kill the process to test crash recovery. */
  testFailpoint: string | null;
  http: {
    host: string;
    port: number;
    maxStowBytes: number;
    /** Reverse proxies trusted for X-Forwarded-For (STRATA_TRUST_PROXY); empty: none. */
    trustProxy: string[];
  };
  dicom: {
    host: string;
    port: number;
    aeTitle: string;
    allowedCallingAets: string[];
    retrieveArchived: 'fail' | 'wait';
    archivedWaitMs: number;
    /** Known peers by AE title (C-MOVE destinations, commitment report targets, pull sources). */
    peers: Record<string, DicomPeer>;
    /** What AE titles not in `peers` may do (all, unless dicom.unknownPeers.allow says less). */
    unknownPeerAllow: DicomOperation[];
    extraStorageSopClasses: string[];
    checkCalledAet: boolean;
    maxPduLength: number;
    idleTimeoutMs: number;
    /** The DICOM TLS listener (dicom.tls); null: none. */
    tls: DicomTlsConfig | null;
  };
  database: { url: string | null; embeddedDir: string };
  ingest: {
    maxHeaderBytes: number;
    parseTimeoutMs: number;
    parserWorkers: number;
    /** Headers up to this size parse on the main thread; larger ones in a worker. */
    inlineParseMaxBytes: number;
    tempDir: string;
  };
  /** Overload limits (config file `limits`): beyond them new work is refused as transient. */
  limits: {
    maxAssociations: number;
    maxStowRequests: number;
    /** Bytes received and not yet stored, across every adapter (limits.maxInFlightMiB). */
    maxInFlightBytes: number;
    retryAfterSeconds: number;
  };
  keys: {
    dir: string;
    privateKeyFile: string | null;
    extraRecipientFiles: string[];
    passphrase: string | null;
  };
  auth: { adminToken: string | null };
  audit: {
    /** Sign the chain head after this many rows or this many minutes, whichever comes first. */
    checkpointEvery: { rows: number; minutes: number };
    /** The audit record repository the trail is sent to over syslog; null: none. */
    syslog: SyslogConfig | null;
  };
  fixity: { schedule: string | null; samplePercent: number; includeCold: boolean };
  /** Background jobs across nodes: a job runs on the node holding its lease. */
  jobs: { leaseMs: number };
  lifecycle: {
    /** Cron expression per sweep, null = not scheduled. */
    schedules: Record<SweepName, string | null>;
    /** Minutes after local midnight [from, to) in which each sweep may work; null = any time. */
    windows: Record<SweepName, { from: number; to: number } | null>;
    batchSize: number;
    /** 0 = unlimited. */
    maxActionsPerSecond: number;
    /** Tests only (STRATA_TEST_NOW): the lifecycle clock's fixed start date. */
    testNow: Date | null;
  };
  storage: {
    backends: Record<string, BackendConfig>;
    tiers: Record<TierName, TierConfig>;
    orphanGraceMs: number;
  };
  /** Configured sources by name (config file `sources`); checked against the adapters at start. */
  sources: Record<string, SourceConfig>;
}

/** One configured source: which adapter serves it, and that adapter's own settings. */
export interface SourceConfig {
  name: string;
  /** The id of the ingestion adapter that serves it ('dimse-push', 'folder-import'...). */
  adapter: string;
  /** AE title of a configured peer (dicom.peers), whose instances are recorded under this source. */
  peer: string | null;
  /** Vendor profile name (policies/profiles/<name>.yaml), applied on ingest; checked at start. */
  profile: string | null;
  /** Cron expression of a pull adapter's runs; null = not scheduled. */
  schedule: string | null;
  /** The adapter's own keys, as written (the adapter validates them at start). */
  options: Record<string, unknown>;
}

export interface DicomPeer {
  aeTitle: string;
  host: string;
  port: number;
  /** The source this peer's pushes are recorded under (its AE title unless configured). */
  source: string;
  /** What it may ask of the archive (all unless configured); nothing = association refused. */
  allow: DicomOperation[];
  /** Associations we open to it use TLS, with these files; null: plain TCP. */
  tls: DicomPeerTls | null;
}

/**
 * What a DICOM peer may ask of the archive: C-STORE, C-FIND, C-MOVE, C-GET and Storage Commitment
 * (N-ACTION). C-ECHO is every accepted association's.
 */
export const DICOM_OPERATIONS = ['store', 'query', 'move', 'get', 'commit'] as const;
export type DicomOperation = (typeof DICOM_OPERATIONS)[number];

export type TierName = 'hot' | 'warm' | 'cold';

/** The scheduled lifecycle sweeps. */
export type SweepName = 'retention' | 'tiering' | 'purge';
export const SWEEP_NAMES: readonly SweepName[] = ['retention', 'tiering', 'purge'];
export const TIER_NAMES: readonly TierName[] = ['hot', 'warm', 'cold'];

export interface TierConfig {
  backend: string;
  /** S3 storage class of the tier's objects; null = the bucket's default. */
  storageClass: string | null;
  restore: { days: number; tier: 'Expedited' | 'Standard' | 'Bulk' } | null;
}

export interface FilesystemBackendConfig {
  type: 'filesystem';
  /** Absolute. */
  path: string;
}

export interface S3BackendConfig {
  type: 's3';
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  region: string;
  endpoint: string | null;
  forcePathStyle: boolean;
  /** null: the standard AWS credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
  profile: string | null;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxAttempts: number;
  partSizeBytes: number;
  checksums: 'when-supported' | 'when-required';
  /** Tests and demos: Glacier restores simulated in front of the server (SimulatedArchiveBackend). */
  simulateRestoreSeconds: number | null;
}

export type BackendConfig = FilesystemBackendConfig | S3BackendConfig;
