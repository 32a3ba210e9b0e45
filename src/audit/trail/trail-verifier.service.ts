import { Inject, Injectable } from '@nestjs/common';
import { setImmediate } from 'node:timers/promises';
import { Database } from '../../database/index.js';
import { ARCHIVE_SIGNER, type ArchiveSigner } from './archive-signer.js';
import { AuditTrailRepository, type TrailProtection } from './audit-trail.repository.js';
import { ChainCrypto, GENESIS_HASH } from './chain-crypto.repository.js';
import { type ChainReport, type ChainRow, ChainVerifier } from './chain-verifier.js';
import { type Checkpoint } from './checkpoint.js';
import { checkSignatures, type SignatureReport } from './checkpoint-signatures.js';

/** Rows read per query: large enough to amortise the round trip, small enough to stay flat. */
const BATCH = 20_000;

export interface TrailVerification extends ChainReport {
  valid: boolean;
  checkpoints: SignatureReport & {
    /** The last checkpoint whose signature verifies and whose hash is the row's at its position. */
    latest: { seq: number; at: string; keyFingerprint: string } | null;
  };
  /** Rows after the last valid checkpoint: intact so far, but not signed yet. */
  uncoveredTail: { fromSeq: number; toSeq: number; rows: number } | null;
  protection: TrailProtection & { note: string };
  warnings: string[];
  seconds: number;
}

/**
 * Verifies the whole trail from the database: every row re-encoded from its stored columns and
 * re-hashed (in batches by primary key, the next batch read while this one is hashed), every
 * checkpoint's signature checked with the archive's public keys and compared with the row at its
 * position. Up to the head as it is when verification starts; rows appended meanwhile are for the
 * next run.
 */
@Injectable()
export class TrailVerifier {
  constructor(
    private readonly db: Database,
    private readonly repo: AuditTrailRepository,
    private readonly crypto: ChainCrypto,
    @Inject(ARCHIVE_SIGNER) private readonly signer: ArchiveSigner,
  ) {}

  async verify(): Promise<TrailVerification> {
    const started = performance.now();
    // Checkpoints first, then the head: a checkpoint beyond the head means rows were removed.
    const checkpoints = await this.repo.checkpoints(this.db);
    const head = await this.repo.head(this.db);
    const endSeq = Math.max(head?.seq ?? 0, checkpoints[checkpoints.length - 1]?.seq ?? 0);
    const verifier = new ChainVerifier(
      this.crypto,
      { seq: 0, hash: GENESIS_HASH },
      new Map(checkpoints.map((c) => [c.seq, c.hash])),
    );
    let after = 0;
    let next: Promise<ChainRow[]> = this.repo.rowsAfter(this.db, after, endSeq, BATCH);
    for (;;) {
      const rows = await next;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.seq;
      next =
        rows.length < BATCH
          ? Promise.resolve([])
          : this.repo.rowsAfter(this.db, after, endSeq, BATCH);
      for (let i = 0; i < rows.length; i++) {
        verifier.push(rows[i]!);
        // A server goes on answering while it verifies: hashing a batch takes a few hundred ms.
        if (i % 2000 === 1999) await setImmediate();
      }
    }
    const [chain, signatures, protection] = await Promise.all([
      verifier.finish((hashes, prevHashes) =>
        this.repo.locate(this.db, endSeq, hashes, prevHashes),
      ),
      this.signer.publicKeys().then((keys) => checkSignatures(this.crypto, checkpoints, keys)),
      this.repo.protection(this.db),
    ]);
    return this.report(chain, signatures, checkpoints, protection, started);
  }

  private report(
    chain: ChainReport,
    signatures: SignatureReport,
    checkpoints: Checkpoint[],
    protection: TrailProtection,
    started: number,
  ): TrailVerification {
    const matched = new Set(chain.checkpointsMatched);
    const invalid = new Set(signatures.invalid.map((i) => i.seq));
    const good = checkpoints.filter((c) => matched.has(c.seq) && !invalid.has(c.seq));
    const latest = good[good.length - 1] ?? null;
    const last = chain.lastSeq;
    const coveredTo = latest?.seq ?? 0;
    const problems = [
      ...chain.problems,
      ...signatures.invalid.map((i) => ({
        kind: 'checkpoint' as const,
        seq: i.seq,
        message: `the checkpoint at seq ${i.seq} ${i.problem}`,
      })),
    ].sort((a, b) => a.seq - b.seq);
    const warnings = Object.entries(protection.triggers)
      .filter(([, state]) => state === 'disabled')
      .map(([name]) => `the trigger ${name} is disabled: the table is not append-only now`);
    const valid = problems.length === 0 && !chain.truncated;
    return {
      valid,
      ...chain,
      problems,
      firstBrokenLink: problems[0] ?? null,
      checkpoints: {
        ...signatures,
        latest: latest && { seq: latest.seq, at: latest.at, keyFingerprint: latest.keyFingerprint },
      },
      uncoveredTail:
        last !== null && last > coveredTo
          ? { fromSeq: coveredTo + 1, toSeq: last, rows: last - coveredTo }
          : null,
      protection: {
        ...protection,
        note:
          protection.superuser || protection.ownsTable
            ? `the application's role '${protection.role}' could disable the append-only triggers ` +
              `(${protection.superuser ? 'superuser' : 'owner'}): tamper evidence rests on the chain and the signed checkpoints`
            : `the application's role '${protection.role}' cannot disable the append-only triggers`,
      },
      warnings,
      seconds: (performance.now() - started) / 1000,
    };
  }
}
