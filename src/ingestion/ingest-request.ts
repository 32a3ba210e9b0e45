import { type Readable } from 'node:stream';

/** What every protocol adapter hands the one ingestion pipeline. */
export interface IngestRequest {
  /** Which adapter received it: 'dimse-push', 'stow-push', ... */
  adapter: string;
  /** The configured source it maps to (for policies), or null. */
  source: string | null;
  /** For the audit trail: a calling AE title or a token name. */
  actor: string;
  callingAet: string | null;
  remoteHost: string | null;
  /** 'dataset': bare dataset bytes in `transferSyntaxUid` (DIMSE); 'part10': a Part 10 file (STOW, import). */
  framing: 'dataset' | 'part10';
  transferSyntaxUid?: string;
  data: Readable;
  /** Values the transport already announced, which the dataset must match. */
  expected?: { sopInstanceUid?: string; sopClassUid?: string; studyInstanceUid?: string };
}

export type IngestRefusal =
  | 'not-part10'
  | 'truncated'
  | 'malformed'
  | 'header-too-large'
  | 'missing-attribute'
  | 'invalid-uid'
  | 'parse-timeout'
  | 'parse-failed'
  | 'unsupported-transfer-syntax'
  | 'sop-class-not-supported'
  | 'uid-mismatch'
  | 'study-mismatch'
  | 'duplicate-rejected'
  /** The source's vendor profile could not be applied (the message says which rule and why). */
  | 'profile-failed'
  /** The study was deleted (expired or purged): it takes no new instances. */
  | 'study-deleted'
  | 'aborted'
  | 'storage-failure';

export type IngestResult =
  | {
      ok: true;
      /** stored: new instance; new-version: same UID, new bytes kept; duplicate: exact re-send; kept-first: policy kept the old one. */
      outcome: 'stored' | 'new-version' | 'duplicate' | 'kept-first';
      sopClassUid: string;
      sopInstanceUid: string;
      studyInstanceUid: string;
      transferSyntaxUid: string;
      /** Size of the dataset received (after the Part 10 meta header), for adapters' counters. */
      bytes: number;
    }
  | {
      ok: false;
      reason: IngestRefusal;
      /** Human-readable and free of patient data: safe to return to any caller. */
      message: string;
      sopClassUid?: string;
      sopInstanceUid?: string;
      studyInstanceUid?: string;
    };
