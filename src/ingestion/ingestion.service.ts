import { type Hmac } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type AuditEvent, AuditService } from '../audit/index.js';
import {
  CatalogService,
  type NewInstance,
  type RecordOutcome,
  type RecordResult,
} from '../catalog/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { Database } from '../database/index.js';
import {
  type CapturedHeader,
  datasetEncoding,
  DicomFormatError,
  HeaderCapture,
  HeaderParserPool,
  isStorageSopClass,
  type ParsedHeader,
  Part10Splitter,
  peekStudyInstanceUid,
} from '../dicom/index.js';
import { BlobStore, type WrittenBlob } from '../storage/index.js';
import { DuplicatePolicies } from './duplicate-policy.js';
import { InFlightBudget, type InFlightCharge } from './in-flight-budget.js';
import { ReceivedDigestRepository } from './received-digest.repository.js';
import { type IngestRefusal, type IngestRequest, type IngestResult } from './ingest-request.js';
import { IngestMetrics } from './ingest-metrics.js';
import { applyProfile, ProfileApplyError } from './profiles/profile-engine.js';
import { VendorProfiles } from './profiles/profile-loader.js';
import { type VendorProfile } from './profiles/profile-model.js';

/** SQLSTATE of the catalog's refusal to add to an expired or purged study (Lifecycle migration). */
const STUDY_DELETED = 'SX001';

class Refused extends Error {
  constructor(
    readonly reason: IngestRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the stream until the header is captured; returns what was read so it can be replayed. */
async function captureHeader(
  it: AsyncIterator<Buffer>,
  capture: HeaderCapture,
): Promise<{ pending: Buffer[]; ended: boolean }> {
  const pending: Buffer[] = [];
  while (!capture.done) {
    const next = await it.next();
    if (next.done) return { pending, ended: true };
    capture.push(next.value);
    pending.push(next.value);
  }
  return { pending, ended: false };
}

/** The chunks after the first `offset` bytes of `chunks`, as views (a chunk may be large). */
function bytesAfter(chunks: readonly Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = offset;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    out.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return out;
}

/** What a vendor profile did to an instance, for the audit trail (never values). */
interface ProfileUse {
  name: string;
  /** The first 12 hex digits of the profile file's SHA-256. */
  version: string;
  changedAttributes: number;
}

/**
 * The one ingestion pipeline every adapter calls (ARCHITECTURE.md): streamed receive → bounded
 * header parse → duplicate decision → AEAD encryption while writing → durable write to the hot tier
 * → one transaction (catalog + blob + location + audit) → only then success.
 */
@Injectable()
export class IngestionService implements OnModuleDestroy {
  private readonly logger = new Logger('Ingestion');
  private readonly parser: HeaderParserPool;
  // Replaced whole by a policy reload (usePolicies), between one read and the next.
  private policies: DuplicatePolicies;
  private profiles: VendorProfiles;
  private readonly extraSopClasses: Set<string>;
  /** Attribute Modification DateTime of profile changes. */
  private readonly now = (): Date => new Date();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly catalog: CatalogService,
    private readonly audit: AuditService,
    private readonly receivedDigests: ReceivedDigestRepository,
    private readonly inFlight: InFlightBudget,
    private readonly metrics: IngestMetrics,
  ) {
    this.parser = new HeaderParserPool({
      size: config.ingest.parserWorkers,
      timeoutMs: config.ingest.parseTimeoutMs,
      inlineMaxBytes: config.ingest.inlineParseMaxBytes,
    });
    this.policies = DuplicatePolicies.load(config.policiesDir);
    // Invalid profile files, or a source naming a profile that does not exist, stop the start.
    this.profiles = VendorProfiles.load(config.policiesDir, config.sources);
    this.extraSopClasses = new Set(config.dicom.extraStorageSopClasses);
  }

  async onModuleDestroy(): Promise<void> {
    await this.parser.close();
  }

  /** A reloaded, already validated, duplicate policy and profile set (POST /api/policies/reload). */
  usePolicies(duplicates: DuplicatePolicies, profiles: VendorProfiles): void {
    this.policies = duplicates;
    this.profiles = profiles;
  }

  /** Counts an instance an adapter refused itself (strata_ingest_refusals_total). */
  countRefusal(adapter: string, reason: 'not-authorized'): void {
    this.metrics.refusedByAdapter(adapter, reason);
  }

  acceptsSopClass(uid: string): boolean {
    return isStorageSopClass(uid) || this.extraSopClasses.has(uid);
  }

  async ingest(req: IngestRequest): Promise<IngestResult> {
    const started = performance.now();
    let result: IngestResult | null = null;
    // Its bytes count against limits.maxInFlightMiB from the first read until stored or refused.
    const charge = this.inFlight.open();
    try {
      result = await this.ingestCharged(req, charge);
      return result;
    } finally {
      charge.release();
      this.metrics.observe(req, result, (performance.now() - started) / 1000);
    }
  }

  private async ingestCharged(req: IngestRequest, charge: InFlightCharge): Promise<IngestResult> {
    if (req.data.destroyed) {
      // The transport already failed (e.g. a STOW body cut at its size limit): nothing to read.
      return this.refusal('aborted', 'the transfer ended before the dataset was complete');
    }
    let header: ParsedHeader | undefined;
    let profiled: ProfileUse | null = null;
    const profile = this.profiles.for(req.source);
    let source: Readable = req.data;
    let written: WrittenBlob | undefined;
    // Settles when `written` is durable: the catalog commit waits for it, and so does a discard.
    let durable: Promise<void> = Promise.resolve();
    const it = (() => {
      if (req.framing === 'part10') {
        const splitter = new Part10Splitter();
        // Failures reach us through `meta` and the iterator; without a listener of its own, an error
        // emitted after the iterator let go (e.g. at the end of a refused part) would crash the process.
        splitter.on('error', () => undefined);
        req.data.on('error', (e) => splitter.destroy(e));
        source = req.data.pipe(splitter);
      }
      return charge.meter(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
    })();
    try {
      const transferSyntaxUid =
        req.framing === 'part10'
          ? (await (source as Part10Splitter).meta).transferSyntaxUid
          : req.transferSyntaxUid!;
      const capture = new HeaderCapture(transferSyntaxUid, {
        maxHeaderBytes: this.config.ingest.maxHeaderBytes,
      });
      const { pending, ended } = await captureHeader(it, capture);
      let captured: CapturedHeader = ended ? capture.finish() : capture.header();
      let replay = pending;
      // What a profile changed is kept with the HMAC of the bytes as received (see below).
      let received: Hmac | null = null;
      if (profile) {
        const changed = this.applyProfile(profile, req, captured, transferSyntaxUid, pending);
        if (changed) {
          ({ captured, replay, use: profiled } = changed);
          received = this.blobs.receivedDigester();
          for (const chunk of pending) received.update(chunk);
        }
      }
      // Replay what the capture read (with a profile's changes, the new header then the bytes
      // after the old one), then the rest of the stream, through the same capture so that a
      // truncated dataset is still detected at the end.
      const rest = async function* (): AsyncGenerator<Buffer> {
        yield* replay;
        if (ended) return;
        for (let next = await it.next(); !next.done; next = await it.next()) {
          capture.push(next.value);
          received?.update(next.value);
          yield next.value;
        }
        capture.finish();
      };
      const plaintext = Readable.from(rest(), { objectMode: false });
      // Its errors reach the blob write through pipeline(); this keeps one raised before the write
      // attached (a refusal while the study key is still being fetched) from crashing the process.
      plaintext.on('error', () => undefined);
      const parsing = this.parser.parse(captured.headerBytes, transferSyntaxUid, captured.bulk);
      // When a cheap walk finds the Study Instance UID, encryption (which needs the study's key)
      // runs while the worker parses: on one association each saved millisecond is throughput.
      const early = peekStudyInstanceUid(captured.headerBytes, transferSyntaxUid);
      if (early) {
        parsing.catch(() => undefined);
        const staging = this.blobs.stage(early, plaintext);
        staging.catch(() => undefined);
        try {
          header = await parsing;
          if (header.studyInstanceUid !== early) {
            throw new Refused('malformed', 'the data set header could not be read consistently');
          }
          this.check(req, header);
        } catch (error) {
          plaintext.destroy(new Error('refused while being written: aborted'));
          const partial = await staging.catch(() => undefined);
          if (partial) {
            await partial.durable.catch(() => undefined);
            await this.discard(partial.blob);
          }
          throw error;
        }
        const staged = await staging;
        written = staged.blob;
        durable = staged.durable;
      } else {
        header = await parsing;
        this.check(req, header);
        written = await this.blobs.write(header.studyInstanceUid, plaintext);
      }
      const instance: NewInstance = {
        header,
        blob: {
          digest: written.digest,
          size: written.size,
          storedSize: written.storedSize,
          location: written.location,
        },
        bulk: captured.bulk ? { tag: captured.bulk.tag, offset: captured.bulk.offset } : null,
        adapter: req.adapter,
        source: req.source,
        callingAet: req.callingAet,
        remoteHost: req.remoteHost,
        duplicatePolicy: this.policies.for(req.source),
      };
      // A profiled instance sent again: its Original Attributes Sequence item has a new time, so
      // its blob differs from the stored one. Given the stored blob's digest instead, the
      // catalog sees the same instance again (a duplicate) and the new copy is discarded.
      const receivedDigest = received?.digest() ?? null;
      const earlier = receivedDigest
        ? await this.receivedDigests.storedBlob(this.db, header.sopInstanceUid, receivedDigest)
        : null;
      if (earlier) instance.blob = { ...instance.blob, digest: earlier };
      const result = await this.record(req, instance, durable, profiled);
      if (receivedDigest && !earlier && result.blobTaken) {
        // Outside the ingest transaction: a crash in between only makes a later re-send a version.
        await this.receivedDigests
          .remember(this.db, header.sopInstanceUid, receivedDigest, written.digest)
          .catch((e: unknown) =>
            this.logger.warn(`could not keep a received digest: ${String(e)}`),
          );
      }
      const blob = written;
      if (!result.blobTaken) await this.discard(blob);
      if (result.outcome === 'rejected-duplicate') {
        return this.refusal(
          'duplicate-rejected',
          'an instance with this SOP Instance UID and different content exists; refused by the duplicate policy',
          header,
        );
      }
      return {
        ok: true,
        outcome: result.outcome,
        sopClassUid: header.sopClassUid,
        sopInstanceUid: header.sopInstanceUid,
        studyInstanceUid: header.studyInstanceUid,
        transferSyntaxUid: header.transferSyntaxUid,
        bytes: blob.size,
      };
    } catch (error) {
      if (written) {
        await durable.catch(() => undefined);
        await this.discard(written);
      }
      await this.drain(it);
      await this.drainSource(req.data);
      const refusal = this.classify(error);
      await this.audit
        .recordAlone({
          actor: req.actor,
          actorHost: req.remoteHost,
          action: 'instance.stored',
          outcome: 'failure',
          patientId: header?.attributes.patientId ?? null,
          studyInstanceUid: header?.studyInstanceUid ?? null,
          instances: 0,
          detail: {
            adapter: req.adapter,
            source: req.source,
            reason: refusal.reason,
            sopInstanceUid: header?.sopInstanceUid ?? null,
            ...(profile ? { profile: profile.name } : {}),
          },
        })
        .catch((e: unknown) =>
          this.logger.error(`could not audit a refused instance: ${String(e)}`),
        );
      return this.refusal(refusal.reason, refusal.message, header);
    }
  }

  /**
   * Catalog rows and audit row together, committed only once the object is durable (promise 1).
   * For a new instance (the usual case) one statement does both, and it runs while the object is
   * still being flushed to disk: the commit is all that waits for the flush. An instance seen
   * before is recorded afterwards in a transaction whose audit row names the real outcome.
   */
  private async record(
    req: IngestRequest,
    instance: NewInstance,
    durable: Promise<void>,
    profiled: ProfileUse | null,
  ): Promise<RecordResult> {
    const audit = this.audit.payload(this.storedEvent(req, instance.header, 'stored', 1, profiled));
    const notNew = new Error('not a new instance');
    try {
      return await this.db.transaction(async (tx) => {
        const recorded = await this.catalog.recordNewInstanceAudited(tx, instance, audit);
        // The statement failed and aborted the transaction: roll it back, record it below.
        if (!recorded) throw notNew;
        await durable;
        return recorded;
      });
    } catch (error) {
      if (error !== notNew) throw error;
    }
    await durable;
    return this.db.transaction(async (tx) => {
      const r = await this.catalog.recordInstance(tx, instance);
      await this.audit.record(
        tx,
        this.storedEvent(req, instance.header, r.outcome, r.version, profiled),
      );
      return r;
    });
  }

  private storedEvent(
    req: IngestRequest,
    h: ParsedHeader,
    outcome: RecordOutcome,
    version: number,
    profiled: ProfileUse | null,
  ): AuditEvent {
    return {
      actor: req.actor,
      actorHost: req.remoteHost,
      action: 'instance.stored',
      outcome:
        outcome === 'rejected-duplicate'
          ? 'failure'
          : outcome === 'kept-first'
            ? 'warning'
            : 'success',
      patientId: h.attributes.patientId,
      studyInstanceUid: h.studyInstanceUid,
      instances: 1,
      detail: {
        adapter: req.adapter,
        source: req.source,
        sopInstanceUid: h.sopInstanceUid,
        outcome,
        version,
        // Which profile changed the instance and how many attributes: the values themselves are in
        // the stored object's Original Attributes Sequence, never in the audit trail.
        ...(profiled ? { profile: profiled } : {}),
      },
    };
  }

  /**
   * Applies the source's vendor profile to a captured header. Returns null when it changes
   * nothing (the instance is then stored exactly as received); otherwise the header to parse
   * and store, the bytes to replay in place of what was read (the new header, then what followed
   * the old one), with the bulk element's offset moved by the difference in length.
   */
  private applyProfile(
    profile: VendorProfile,
    req: IngestRequest,
    captured: CapturedHeader,
    transferSyntaxUid: string,
    pending: Buffer[],
  ): { captured: CapturedHeader; replay: Buffer[]; use: ProfileUse } | null {
    let outcome;
    try {
      outcome = applyProfile(profile, captured.headerBytes, transferSyntaxUid, {
        source: req.source ?? req.actor,
        now: this.now(),
        bulkTag: captured.bulk?.tag ?? null,
      });
    } catch (error) {
      if (error instanceof ProfileApplyError) throw new Refused('profile-failed', error.message);
      throw error;
    }
    if (outcome.changedAttributes === 0) return null;
    if (datasetEncoding(transferSyntaxUid).deflated) {
      // The stored bytes are the deflate stream as received: changing the header would mean
      // re-compressing the whole data set. Refused rather than stored without the profile.
      throw new Refused(
        'profile-failed',
        `vendor profile '${profile.name}' would change this instance, but its transfer syntax (${transferSyntaxUid}) is deflated: send it in another transfer syntax`,
      );
    }
    // Not deflated: what was read is the data set from its first byte; the old header is exactly
    // its first headerBytes.length bytes, and anything after them is the start of the bulk element.
    const oldLength = captured.headerBytes.length;
    const tail = bytesAfter(pending, oldLength);
    const delta = outcome.headerBytes.length - oldLength;
    return {
      captured: {
        ...captured,
        headerBytes: outcome.headerBytes,
        ...(captured.bulk
          ? { bulk: { ...captured.bulk, offset: captured.bulk.offset + delta } }
          : {}),
      },
      replay: [outcome.headerBytes, ...tail],
      use: {
        name: profile.name,
        version: profile.version.slice(0, 12),
        changedAttributes: outcome.changedAttributes,
      },
    };
  }

  private check(req: IngestRequest, h: ParsedHeader): void {
    if (!this.acceptsSopClass(h.sopClassUid)) {
      throw new Refused(
        'sop-class-not-supported',
        `SOP Class ${h.sopClassUid} is not a storage SOP class this archive accepts`,
      );
    }
    const e = req.expected;
    if (e?.sopInstanceUid && e.sopInstanceUid !== h.sopInstanceUid) {
      throw new Refused(
        'uid-mismatch',
        'the dataset SOP Instance UID differs from the one in the request',
      );
    }
    if (e?.sopClassUid && e.sopClassUid !== h.sopClassUid) {
      throw new Refused(
        'uid-mismatch',
        'the dataset SOP Class UID differs from the one in the request',
      );
    }
    if (e?.studyInstanceUid && e.studyInstanceUid !== h.studyInstanceUid) {
      throw new Refused(
        'study-mismatch',
        'the dataset belongs to another study than the request URL names',
      );
    }
  }

  private classify(error: unknown): { reason: IngestRefusal; message: string } {
    if (error instanceof Refused) return { reason: error.reason, message: error.message };
    if (error instanceof DicomFormatError) return { reason: error.reason, message: error.message };
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === STUDY_DELETED) {
      return {
        reason: 'study-deleted',
        message:
          'this study was deleted from the archive (expired or purged): it takes no new instances',
      };
    }
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ABORT_ERR') {
      return { reason: 'aborted', message: 'the transfer ended before the dataset was complete' };
    }
    const message = error instanceof Error ? error.message : String(error);
    if (/aborted|premature|closed|destroyed|ended before/i.test(message)) {
      return { reason: 'aborted', message: 'the transfer ended before the dataset was complete' };
    }
    // Unexpected: keep details in the log (no patient data in these messages), not in the answer.
    this.logger.error(`ingest failed: ${message}`);
    return {
      reason: 'storage-failure',
      message: 'the archive could not store this instance; try again',
    };
  }

  private refusal(reason: IngestRefusal, message: string, h?: ParsedHeader): IngestResult {
    return {
      ok: false,
      reason,
      message,
      sopClassUid: h?.sopClassUid,
      sopInstanceUid: h?.sopInstanceUid,
      studyInstanceUid: h?.studyInstanceUid,
    };
  }

  private async discard(blob: WrittenBlob): Promise<void> {
    await this.blobs
      .discard(blob)
      .catch((e: unknown) => this.logger.warn(`could not remove an unused object: ${String(e)}`));
  }

  /**
   * The transport's own stream may still hold bytes when a Part 10 splitter in front of it failed:
   * read it to its end too, or a STOW request would stall on its next part.
   */
  private async drainSource(data: Readable): Promise<void> {
    if (data.destroyed || data.readableEnded) return;
    data.unpipe();
    data.on('error', () => undefined);
    data.resume();
    await finished(data).catch(() => undefined);
  }

  /** Consumes what is left of a refused instance so the transport can go on to the next one. */
  private async drain(it: AsyncIterator<Buffer>): Promise<void> {
    try {
      for (let next = await it.next(); !next.done; next = await it.next()) {
        /* discard */
      }
    } catch {
      /* the transport failed: nothing more to read */
    }
  }
}
