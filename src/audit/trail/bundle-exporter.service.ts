import { Inject, Injectable } from '@nestjs/common';
import { Database } from '../../database/index.js';
import { ARCHIVE_SIGNER, type ArchiveSigner } from './archive-signer.js';
import { AuditTrailRepository } from './audit-trail.repository.js';
import { GENESIS_HASH } from './chain-crypto.repository.js';
import { type AuditBundle, BUNDLE_FORMAT, BUNDLE_HASHING, toAuditRow } from './bundle.js';
import { CheckpointService } from './checkpoint.service.js';

const BATCH = 5_000;

/**
 * Builds offline-verifiable exports: the rows of a time range, the link before them, the signed
 * checkpoints up to the first one at or after the last row (one is signed now if none covers it
 * yet, so an export is always complete), the rows from the range to that checkpoint, and the
 * public keys that signed. Streamed as JSON text, batch by batch, so a large range does not sit
 * in memory.
 */
@Injectable()
export class BundleExporter {
  constructor(
    private readonly db: Database,
    private readonly repo: AuditTrailRepository,
    private readonly checkpoints: CheckpointService,
    @Inject(ARCHIVE_SIGNER) private readonly signer: ArchiveSigner,
  ) {}

  /** The bundle's JSON text in pieces; `from` inclusive, `to` exclusive (ISO 8601), null = open. */
  async *export(
    from: string | null,
    to: string | null,
    now = new Date(),
    /** Filled in as rows are written (for the caller's audit record of the export). */
    counts: { rows: number; continuation: number } = { rows: 0, continuation: 0 },
  ): AsyncGenerator<string> {
    const range = await this.repo.seqRange(this.db, from, to);
    const covering = range ? await this.checkpoints.ensureCovered(range.lastSeq) : null;
    const checkpoints = range
      ? await this.repo.checkpoints(this.db, range.firstSeq, covering?.seq ?? range.lastSeq)
      : [];
    const used = new Set(checkpoints.map((c) => c.keyFingerprint.toLowerCase()));
    const publicKeys = (await this.signer.publicKeys())
      .filter((k) => used.has(k.fingerprint.toLowerCase()))
      .map((k) => ({ fingerprint: k.fingerprint, armored: k.armored }));
    let previous: AuditBundle['previous'] = null;
    if (range) {
      const seq = range.firstSeq - 1;
      const hash = seq === 0 ? GENESIS_HASH : await this.repo.hashAt(this.db, seq);
      if (hash) previous = { seq, hash: hash.toString('hex') };
    }
    const head: Omit<AuditBundle, 'rows' | 'continuation'> = {
      format: BUNDLE_FORMAT,
      exportedAt: now.toISOString(),
      range: {
        from,
        to,
        firstSeq: range?.firstSeq ?? null,
        lastSeq: range?.lastSeq ?? null,
      },
      hashing: BUNDLE_HASHING,
      previous,
      checkpoints,
      publicKeys,
    };
    const opening = JSON.stringify(head, null, 1);
    yield `${opening.slice(0, opening.lastIndexOf('}')).trimEnd()},\n"rows": [`;
    if (range) yield* this.rows(range.firstSeq - 1, range.lastSeq, (n) => (counts.rows += n));
    yield '\n],\n"continuation": [';
    if (range && covering && covering.seq > range.lastSeq) {
      yield* this.rows(range.lastSeq, covering.seq, (n) => (counts.continuation += n));
    }
    yield '\n]\n}\n';
  }

  /** Rows after `after` up to `end`, as JSON array elements (one a line). */
  private async *rows(
    after: number,
    end: number,
    count: (n: number) => void,
  ): AsyncGenerator<string> {
    let first = true;
    for (;;) {
      const batch = await this.repo.rowsAfter(this.db, after, end, BATCH);
      if (batch.length === 0) return;
      count(batch.length);
      const text = batch.map((r) => JSON.stringify(toAuditRow(r))).join(',\n');
      yield `${first ? '\n' : ',\n'}${text}`;
      first = false;
      after = batch[batch.length - 1]!.seq;
      if (batch.length < BATCH) return;
    }
  }
}
