import { type AuditRow, canonicalOfStored } from '../audit-event.js';
import { type ChainCrypto } from './chain-crypto.repository.js';

/** A row as verification reads it: the stored columns, hashes as bytes. */
export type ChainRow = Omit<AuditRow, 'prevHash' | 'hash'> & { prevHash: Buffer; hash: Buffer };

export type ProblemKind =
  'missing' | 'added' | 'altered' | 'reordered' | 'broken-link' | 'checkpoint';

/** One finding, at a chain position (seq); `toSeq` for a range. */
export interface ChainProblem {
  kind: ProblemKind;
  seq: number;
  toSeq?: number;
  /** For a reordered row: the position its hash was made for. */
  belongsAt?: number;
  message: string;
}

export interface ChainReport {
  rowsChecked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The last row's hash (hex). */
  headHash: string | null;
  /** Rows hashed the pre-AuditTrail way (their position not covered by the hash). */
  legacyRows: number;
  /** Positions with no row although the chain or a checkpoint says there was one. */
  missing: { fromSeq: number; toSeq: number }[];
  /** Rows that are not part of the chain (the next row links over them). */
  added: number[];
  /** Rows whose content no longer matches their hash. */
  altered: number[];
  /** Rows at another position than the one their hash was made for. */
  reordered: { seq: number; belongsAt: number }[];
  /** Every finding in chain order (runs of the same finding merged); capped, see `truncated`. */
  problems: ChainProblem[];
  firstBrokenLink: ChainProblem | null;
  /** Checkpoint positions whose signed hash is the hash of the row there. */
  checkpointsMatched: number[];
  truncated: boolean;
}

/** Where the rows to verify start: the position before the first, and its hash. */
export interface ChainStart {
  seq: number;
  hash: Buffer;
}

/** Finds rows by hash (for a row that is out of place: where its neighbours are). */
export type Locate = (
  hashes: Buffer[],
  prevHashes: Buffer[],
) => Promise<{ byHash: Map<string, number>; byPrevHash: Map<string, number> }>;

interface Previous {
  seq: number;
  hash: Buffer;
  /** The row did not match its hash at its position. */
  suspect: boolean;
}

/** A row that does not match its hash where it is, kept until the rest of the chain explains it. */
interface Suspect {
  seq: number;
  canonical: string;
  prevHash: Buffer;
  hash: Buffer;
  /** The hash of the row before it in the table. */
  before: Buffer;
  /** The prev_hash of the row after it (undefined for the last row). */
  nextPrev?: Buffer;
  /** A checkpoint signed this row's hash at its position. */
  signed: boolean;
}

/** How many findings of each list are kept (the counts stay exact). */
const LIST_CAP = 1000;
/** Suspects kept for the second pass (each holds its canonical text). */
const SUSPECT_CAP = 10_000;

/**
 * Checks the hash chain row by row in seq order, in one streaming pass, and explains what it
 * finds by position:
 *
 * - altered: the row's columns no longer give its hash (verification re-encodes the stored
 *   columns; nothing stored is trusted), or it was rewritten with a recomputed hash (the next
 *   row still links to the original one);
 * - missing: a position without a row (positions have no gaps since AuditTrail1764300011000),
 *   also at the end when a checkpoint signed a later position;
 * - reordered: the row matches its hash at another position (the hash covers the position);
 * - added: the row matches nothing and the chain links over it;
 * - checkpoint: the row at a checkpoint's position does not have the signed hash although the
 *   chain around it is consistent (rewritten with every hash recomputed after it was signed).
 *
 * Rows hashed before positions were covered (legacy) are accepted only before the first row of the
 * new form; among them a gap with an intact link is a rolled-back append, not a loss.
 */
export class ChainVerifier {
  private prev: Previous;
  private lastSuspect: Suspect | null = null;
  private readonly suspects: Suspect[] = [];
  private sawCurrentForm = false;
  private rows = 0;
  private legacy = 0;
  private first: number | null = null;
  private suspectsDropped = 0;
  /** Positions that hold a row that is not theirs (reordered or added): candidates for missing. */
  private readonly vacated: number[] = [];
  /** Positions claimed by a reordered row (where it belongs). */
  private readonly claimed = new Set<number>();
  private readonly gaps: { fromSeq: number; toSeq: number }[] = [];
  private readonly found: ChainProblem[] = [];
  private readonly altered: number[] = [];
  private readonly added: number[] = [];
  private readonly reordered: { seq: number; belongsAt: number }[] = [];
  private readonly matched: number[] = [];
  private readonly checkpointSeen = new Set<number>();
  private counts = { altered: 0, added: 0, reordered: 0, problems: 0 };
  /** The last position holding its own row (matching its hash there). */
  private lastHome: number;
  private missingRanges: { fromSeq: number; toSeq: number }[] = [];

  constructor(
    private readonly crypto: ChainCrypto,
    private readonly start: ChainStart,
    /** Checkpoint position → signed hash (hex). */
    private readonly checkpoints: Map<number, string>,
  ) {
    this.prev = { seq: start.seq, hash: start.hash, suspect: false };
    this.lastHome = start.seq;
  }

  /** The next row, in ascending seq order. */
  push(row: ChainRow): void {
    const k = row.seq;
    if (k <= this.prev.seq) {
      throw new Error(`rows must come in ascending seq order (${k} after ${this.prev.seq})`);
    }
    this.rows++;
    this.first ??= k;
    const canonical = canonicalOfStored(row.at, row);
    let ok = this.crypto.linkHash(row.prevHash, k, canonical).equals(row.hash);
    let legacy = false;
    if (!ok && !this.sawCurrentForm) {
      legacy = this.crypto.legacyLinkHash(row.prevHash, canonical).equals(row.hash);
      ok = legacy;
    }
    if (ok && !legacy) this.sawCurrentForm = true;
    if (legacy) this.legacy++;
    const linked = row.prevHash.equals(this.prev.hash);
    if (this.lastSuspect) {
      this.lastSuspect.nextPrev = row.prevHash;
      this.lastSuspect = null;
    }

    const gap = k - this.prev.seq - 1;
    if (gap > 0 && !(legacy && linked)) {
      this.gaps.push({ fromSeq: this.prev.seq + 1, toSeq: k - 1 });
    }

    const signedHex = this.checkpoints.get(k);
    if (signedHex !== undefined) this.checkpointSeen.add(k);
    const signedHere = signedHex !== undefined && signedHex === row.hash.toString('hex');
    if (signedHere) this.matched.push(k);

    if (!ok) {
      const belongsAt = [k - 1, k + 1].find(
        (j) =>
          j > this.start.seq && this.crypto.linkHash(row.prevHash, j, canonical).equals(row.hash),
      );
      if (belongsAt !== undefined) {
        this.markReordered(k, belongsAt);
        // The row before sits at the position this one belongs at: it is the one not in the chain.
        if (belongsAt === k - 1 && !this.prev.suspect && this.prev.seq === k - 1) {
          this.markAdded(k - 1, `the row after it belongs at its position`);
        }
      } else {
        const suspect: Suspect = {
          seq: k,
          canonical,
          prevHash: row.prevHash,
          hash: row.hash,
          before: this.prev.hash,
          signed: signedHere,
        };
        if (this.suspects.length < SUSPECT_CAP) this.suspects.push(suspect);
        else this.suspectsDropped++;
        this.lastSuspect = suspect;
      }
    } else if (!linked && gap <= 0 && !this.prev.suspect) {
      if (this.prev.seq === this.start.seq) {
        this.problem({
          kind: 'broken-link',
          seq: k,
          message:
            this.start.seq === 0
              ? `seq ${k} does not link to the start of the trail (its prev_hash is not the genesis hash)`
              : `seq ${k} does not link to the row before it (seq ${this.start.seq}, whose hash is ${this.start.hash.toString('hex')})`,
        });
      } else if (legacy) {
        this.markAltered(
          this.prev.seq,
          `the link from seq ${this.prev.seq} to seq ${k} is broken: seq ${this.prev.seq} was rewritten ` +
            `with a recomputed hash, or rows between them were removed and the rest renumbered ` +
            `(rows from before positions were hashed)`,
        );
      } else {
        this.markAltered(
          this.prev.seq,
          `seq ${this.prev.seq} was rewritten with a recomputed hash: seq ${k} links to its original hash ` +
            `${row.prevHash.toString('hex')}`,
        );
      }
    }

    if (ok) this.lastHome = k;
    if (signedHex !== undefined && !signedHere && ok) {
      this.problem({
        kind: 'checkpoint',
        seq: k,
        message: this.rewrittenMessage(k, signedHex, row.hash),
      });
    }
    this.prev = { seq: k, hash: row.hash, suspect: !ok };
  }

  /** Explains the rows that matched nothing where they were, then reports. */
  async finish(locate: Locate): Promise<ChainReport> {
    const unresolved: Suspect[] = [];
    if (this.suspects.length > 0) {
      const { byHash, byPrevHash } = await locate(
        this.suspects.map((s) => s.prevHash),
        this.suspects.map((s) => s.hash),
      );
      for (const s of this.suspects) {
        const candidates: number[] = [];
        const pred = byHash.get(s.prevHash.toString('hex'));
        if (pred !== undefined) candidates.push(pred + 1);
        const succ = byPrevHash.get(s.hash.toString('hex'));
        if (succ !== undefined) candidates.push(succ - 1);
        const belongsAt = candidates.find(
          (j) =>
            j !== s.seq &&
            j > this.start.seq &&
            this.crypto.linkHash(s.prevHash, j, s.canonical).equals(s.hash),
        );
        if (belongsAt !== undefined) this.markReordered(s.seq, belongsAt);
        else unresolved.push(s);
      }
    }
    for (const s of unresolved) {
      const referenced = s.signed || (s.nextPrev !== undefined && s.nextPrev.equals(s.hash));
      if (!referenced && s.nextPrev !== undefined && s.nextPrev.equals(s.before)) {
        this.markAdded(
          s.seq,
          'it matches no position, and the next row links to the row before it',
        );
      } else {
        this.markAltered(
          s.seq,
          referenced
            ? `seq ${s.seq} was altered: its columns no longer give its hash, which the chain still links to`
            : s.nextPrev === undefined
              ? `seq ${s.seq}, the last row, does not match its hash: altered, or added without the chain's hash`
              : `seq ${s.seq} was altered: its columns and its hash do not match, and no later row or checkpoint links to it`,
        );
      }
    }
    if (this.suspectsDropped > 0) {
      this.counts.altered += this.suspectsDropped;
      this.counts.problems += this.suspectsDropped;
    }
    this.findMissing();
    const problems = [...this.found].sort((a, b) => a.seq - b.seq || a.kind.localeCompare(b.kind));
    return {
      rowsChecked: this.rows,
      firstSeq: this.first,
      lastSeq: this.rows > 0 ? this.prev.seq : null,
      headHash: this.rows > 0 ? this.prev.hash.toString('hex') : null,
      legacyRows: this.legacy,
      missing: mergeRanges(this.missingRanges),
      added: this.added,
      altered: [...new Set(this.altered)].sort((a, b) => a - b),
      reordered: this.reordered,
      problems: mergeRuns(problems),
      firstBrokenLink: problems[0] ?? null,
      checkpointsMatched: this.matched,
      truncated:
        this.counts.problems > this.found.length ||
        this.counts.altered > this.altered.length ||
        this.counts.added > this.added.length ||
        this.counts.reordered > this.reordered.length,
    };
  }

  /**
   * Missing positions: gaps, positions holding a row that is not theirs, and positions after the
   * last row, up to the last position a row at home, a reordered row or a checkpoint vouches for;
   * less the positions a reordered row belongs at.
   */
  private findMissing(): void {
    const last = this.rows > 0 ? this.prev.seq : this.start.seq;
    let expectedEnd = this.lastHome;
    for (const seq of this.checkpoints.keys()) expectedEnd = Math.max(expectedEnd, seq);
    for (const seq of this.claimed) expectedEnd = Math.max(expectedEnd, seq);
    const candidates = [...this.gaps];
    for (const seq of this.vacated) candidates.push({ fromSeq: seq, toSeq: seq });
    if (expectedEnd > last) candidates.push({ fromSeq: last + 1, toSeq: expectedEnd });
    const claimed = [...this.claimed].sort((a, b) => a - b);
    for (const merged of mergeRanges(candidates)) {
      if (merged.fromSeq > expectedEnd) continue;
      const range = { fromSeq: merged.fromSeq, toSeq: Math.min(merged.toSeq, expectedEnd) };
      let from = range.fromSeq;
      for (const c of claimed) {
        if (c < from || c > range.toSeq) continue;
        if (c > from) this.missingRanges.push({ fromSeq: from, toSeq: c - 1 });
        from = c + 1;
      }
      if (from <= range.toSeq) this.missingRanges.push({ fromSeq: from, toSeq: range.toSeq });
    }
    for (const m of mergeRanges(this.missingRanges)) {
      const n = m.toSeq - m.fromSeq + 1;
      const where =
        n === 1 ? `seq ${m.fromSeq} is` : `seq ${m.fromSeq} to ${m.toSeq} (${n} rows) are`;
      const signed = [...this.checkpoints.keys()].some(
        (c) => c >= m.fromSeq && c <= m.toSeq && !this.checkpointSeen.has(c),
      );
      this.problem({
        kind: 'missing',
        seq: m.fromSeq,
        ...(n > 1 ? { toSeq: m.toSeq } : {}),
        message:
          m.fromSeq > last
            ? `${where} missing after the last row (seq ${last}): a signed checkpoint covers ${
                expectedEnd === m.toSeq ? `seq ${expectedEnd}` : 'them'
              }`
            : `${where} missing${signed ? ' (a signed checkpoint covers them)' : ''}`,
      });
    }
  }

  private rewrittenMessage(seq: number, signedHex: string, actual: Buffer): string {
    const before = this.matched.filter((m) => m < seq).pop();
    const span = before === undefined ? `up to seq ${seq}` : `between seq ${before + 1} and ${seq}`;
    return (
      `the row at seq ${seq} does not have the hash its signed checkpoint states ` +
      `(${signedHex}, now ${actual.toString('hex')}): rows ${span} were rewritten, ` +
      `every later hash recomputed, after the checkpoint was signed`
    );
  }

  private markReordered(seq: number, belongsAt: number): void {
    this.vacated.push(seq);
    this.claimed.add(belongsAt);
    this.counts.reordered++;
    if (this.reordered.length < LIST_CAP) this.reordered.push({ seq, belongsAt });
    this.problem({
      kind: 'reordered',
      seq,
      belongsAt,
      message: `the row at seq ${seq} belongs at seq ${belongsAt} (its hash was made for that position)`,
    });
  }

  private markAdded(seq: number, why: string): void {
    this.vacated.push(seq);
    this.counts.added++;
    if (this.added.length < LIST_CAP) this.added.push(seq);
    this.problem({ kind: 'added', seq, message: `seq ${seq} was added: ${why}` });
  }

  private markAltered(seq: number, message: string): void {
    this.counts.altered++;
    if (this.altered.length < LIST_CAP) this.altered.push(seq);
    this.problem({ kind: 'altered', seq, message });
  }

  private problem(p: ChainProblem): void {
    this.counts.problems++;
    if (this.found.length < LIST_CAP * 4) this.found.push(p);
  }
}

function mergeRanges(
  ranges: { fromSeq: number; toSeq: number }[],
): { fromSeq: number; toSeq: number }[] {
  const sorted = [...ranges].sort((a, b) => a.fromSeq - b.fromSeq);
  const out: { fromSeq: number; toSeq: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.fromSeq <= last.toSeq + 1) last.toSeq = Math.max(last.toSeq, r.toSeq);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Consecutive rows reordered by the same offset (rows renumbered after a removal or an insertion)
 * become one finding, so a shift of a million rows reads as one line.
 */
function mergeRuns(problems: ChainProblem[]): ChainProblem[] {
  const out: ChainProblem[] = [];
  let run: { p: ChainProblem; offset: number; to: number } | null = null;
  const offsetOf = (p: ChainProblem) => (p.belongsAt ?? p.seq) - p.seq;
  const flush = () => {
    if (!run) return;
    if (run.to === run.p.seq) out.push(run.p);
    else {
      const d = run.offset;
      out.push({
        kind: 'reordered',
        seq: run.p.seq,
        toSeq: run.to,
        belongsAt: run.p.seq + d,
        message:
          `the rows at seq ${run.p.seq} to ${run.to} belong ${Math.abs(d)} position${Math.abs(d) === 1 ? '' : 's'} ` +
          `${d < 0 ? 'earlier' : 'later'} (seq ${run.p.seq + d} to ${run.to + d}): renumbered`,
      });
    }
    run = null;
  };
  for (const p of problems) {
    if (p.kind === 'reordered' && p.toSeq === undefined) {
      const offset = offsetOf(p);
      if (run && run.offset === offset && p.seq === run.to + 1) {
        run.to = p.seq;
        continue;
      }
      flush();
      run = { p, offset, to: p.seq };
      continue;
    }
    flush();
    out.push(p);
  }
  flush();
  return out;
}
