import { type AuditRow } from '../audit-event.js';
import { type AuditBundle, BUNDLE_FORMAT, toChainRow } from './bundle.js';
import { type ChainCrypto, GENESIS_HASH } from './chain-crypto.repository.js';
import { type ChainProblem, ChainVerifier } from './chain-verifier.js';
import { checkSignatures, type SignatureReport } from './checkpoint-signatures.js';

/** The file is not a bundle this verifier understands (the message says what is wrong). */
export class BundleFormatError extends Error {}

export interface BundleVerification {
  /** Nothing in the bundle was changed: the chain holds and every checkpoint signature verifies. */
  valid: boolean;
  /** The last row of the range is covered by a valid signed checkpoint. */
  covered: boolean;
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  coveredBy: { seq: number; at: string; keyFingerprint: string } | null;
  /** Whose keys the signatures were checked with: the bundle's own, or ones given by the auditor. */
  keys: 'bundled' | 'given';
  signers: SignatureReport['signers'];
  problems: ChainProblem[];
  firstBrokenLink: ChainProblem | null;
  /** What was checked, or what is wrong, in sentences. */
  summary: string;
}

const HEX32 = /^[0-9a-f]{64}$/;

function fail(message: string): never {
  throw new BundleFormatError(message);
}

/** Checks a parsed JSON value is a bundle: shape, types, hex hashes, rows in ascending order. */
export function parseBundle(value: unknown): AuditBundle {
  const b = value as Partial<AuditBundle> | null;
  if (!b || typeof b !== 'object') fail('not a JSON object');
  if (b.format !== BUNDLE_FORMAT)
    fail(`format is ${JSON.stringify(b.format)}, not ${BUNDLE_FORMAT}`);
  for (const key of ['checkpoints', 'publicKeys', 'rows', 'continuation'] as const) {
    if (!Array.isArray(b[key])) fail(`"${key}" is not an array`);
  }
  if (!b.range || typeof b.range !== 'object') fail('"range" is missing');
  if (
    b.previous !== null &&
    (typeof b.previous?.seq !== 'number' || !HEX32.test(b.previous.hash))
  ) {
    fail('"previous" is not { seq, hash }');
  }
  const all = [...b.rows!, ...b.continuation!];
  let last = -Infinity;
  all.forEach((r: AuditRow, i) => {
    const where = i < b.rows!.length ? `rows[${i}]` : `continuation[${i - b.rows!.length}]`;
    if (!r || typeof r !== 'object') fail(`${where} is not an object`);
    if (!Number.isSafeInteger(r.seq) || r.seq < 1) fail(`${where}.seq is not a positive integer`);
    if (r.seq <= last) fail(`${where}: seq ${r.seq} comes after seq ${last} (rows must ascend)`);
    last = r.seq;
    for (const k of ['at', 'actor', 'action', 'outcome'] as const) {
      if (typeof r[k] !== 'string') fail(`${where}.${k} is not a string`);
    }
    if (!HEX32.test(r.prevHash) || !HEX32.test(r.hash)) {
      fail(`${where}: prevHash and hash must be 64 hex digits`);
    }
  });
  b.checkpoints!.forEach((c, i) => {
    if (
      !Number.isSafeInteger(c?.seq) ||
      !HEX32.test(c.hash) ||
      typeof c.at !== 'string' ||
      typeof c.signature !== 'string' ||
      typeof c.keyFingerprint !== 'string'
    ) {
      fail(`checkpoints[${i}] is not { seq, hash, at, signature, keyFingerprint }`);
    }
  });
  b.publicKeys!.forEach((k, i) => {
    if (typeof k?.fingerprint !== 'string' || typeof k.armored !== 'string') {
      fail(`publicKeys[${i}] is not { fingerprint, armored }`);
    }
  });
  return b as AuditBundle;
}

/**
 * Verifies a bundle without the archive: the rows' hashes recomputed from their columns, the
 * chain from the link before the first row through the continuation to the covering checkpoint,
 * each checkpoint's signature (with the bundled public keys, or the auditor's own copies of the
 * archive's keys: `trustedKeys`), and that the last row of the range is covered by one.
 */
export async function verifyBundle(
  crypto: ChainCrypto,
  bundle: AuditBundle,
  trustedKeys: string[] | null = null,
): Promise<BundleVerification> {
  const chain = [...bundle.rows, ...bundle.continuation];
  const firstSeq = bundle.rows[0]?.seq ?? null;
  const lastSeq = bundle.rows[bundle.rows.length - 1]?.seq ?? null;
  const keys = trustedKeys
    ? await Promise.all(
        trustedKeys.map(async (armored) => ({
          fingerprint: (await crypto.fingerprintOf(armored)) ?? '(unreadable key)',
          armored,
        })),
      )
    : bundle.publicKeys;
  const signatures = await checkSignatures(crypto, bundle.checkpoints, keys);
  const problems: ChainProblem[] = [];
  if (firstSeq !== bundle.range.firstSeq || lastSeq !== bundle.range.lastSeq) {
    problems.push({
      kind: 'missing',
      seq: firstSeq ?? 0,
      message: `the rows span seq ${firstSeq ?? '-'} to ${lastSeq ?? '-'}, but the bundle's range says ${
        bundle.range.firstSeq ?? '-'
      } to ${bundle.range.lastSeq ?? '-'}`,
    });
  }
  let chainProblems: ChainProblem[] = [];
  let matched = new Set<number>();
  if (chain.length > 0) {
    const start =
      bundle.previous !== null
        ? { seq: bundle.previous.seq, hash: Buffer.from(bundle.previous.hash, 'hex') }
        : chain[0]!.seq === 1
          ? { seq: 0, hash: GENESIS_HASH }
          : null;
    if (!start) {
      problems.push({
        kind: 'broken-link',
        seq: chain[0]!.seq,
        message: `the bundle has no link before seq ${chain[0]!.seq}: its first row cannot be tied to the chain`,
      });
    }
    const inBundle = bundle.checkpoints.filter((c) => c.seq >= chain[0]!.seq);
    const verifier = new ChainVerifier(
      crypto,
      start ?? { seq: chain[0]!.seq - 1, hash: Buffer.from(chain[0]!.prevHash, 'hex') },
      new Map(inBundle.map((c) => [c.seq, c.hash])),
    );
    const rows = chain.map(toChainRow);
    for (const row of rows) verifier.push(row);
    const report = await verifier.finish(async (hashes, prevHashes) => {
      const wanted = new Set(hashes.map((h) => h.toString('hex')));
      const wantedPrev = new Set(prevHashes.map((h) => h.toString('hex')));
      const byHash = new Map<string, number>();
      const byPrevHash = new Map<string, number>();
      for (const r of rows) {
        if (wanted.has(r.hash.toString('hex'))) byHash.set(r.hash.toString('hex'), r.seq);
        if (wantedPrev.has(r.prevHash.toString('hex')))
          byPrevHash.set(r.prevHash.toString('hex'), r.seq);
      }
      return { byHash, byPrevHash };
    });
    chainProblems = report.problems;
    matched = new Set(report.checkpointsMatched);
  }
  for (const i of signatures.invalid) {
    problems.push({
      kind: 'checkpoint',
      seq: i.seq,
      message: `the checkpoint at seq ${i.seq} ${i.problem}`,
    });
  }
  const all = [...problems, ...chainProblems].sort((a, b) => a.seq - b.seq);
  const invalid = new Set(signatures.invalid.map((i) => i.seq));
  const covering = bundle.checkpoints.find(
    (c) => lastSeq !== null && c.seq >= lastSeq && matched.has(c.seq) && !invalid.has(c.seq),
  );
  const valid = all.length === 0;
  const covered = valid && (lastSeq === null || covering !== undefined);
  const coveredBy = covering
    ? { seq: covering.seq, at: covering.at, keyFingerprint: covering.keyFingerprint }
    : null;
  return {
    valid,
    covered,
    rows: bundle.rows.length,
    firstSeq,
    lastSeq,
    coveredBy,
    keys: trustedKeys ? 'given' : 'bundled',
    signers: signatures.signers,
    problems: all,
    firstBrokenLink: all[0] ?? null,
    summary: summarize(
      valid,
      covered,
      bundle,
      firstSeq,
      lastSeq,
      coveredBy,
      all,
      trustedKeys !== null,
    ),
  };
}

function summarize(
  valid: boolean,
  covered: boolean,
  bundle: AuditBundle,
  firstSeq: number | null,
  lastSeq: number | null,
  coveredBy: BundleVerification['coveredBy'],
  problems: ChainProblem[],
  givenKeys: boolean,
): string {
  if (!valid) {
    const shown = problems.slice(0, 20).map((p) => `  - ${p.message}`);
    const more =
      problems.length > shown.length ? [`  (and ${problems.length - shown.length} more)`] : [];
    return [`INVALID: the bundle was altered.`, ...shown, ...more].join('\n');
  }
  if (firstSeq === null) {
    return 'VALID, but the bundle holds no rows: the range had no audit events.';
  }
  const rows = `${bundle.rows.length} row${bundle.rows.length === 1 ? '' : 's'} (seq ${firstSeq} to ${lastSeq})`;
  if (!covered) {
    const lastSigned = bundle.checkpoints.filter((c) => c.seq < lastSeq!).pop();
    return (
      `NOT COVERED: the chain of the ${rows} is intact, but no signed checkpoint at or after seq ${lastSeq} is in the bundle` +
      (lastSigned ? ` (the last one signs seq ${lastSigned.seq})` : '') +
      `: nothing signed vouches for the rows after it. Export again after the next checkpoint.`
    );
  }
  const whose = givenKeys
    ? 'with the key(s) given'
    : `with the bundled key ${coveredBy!.keyFingerprint}: check it is the archive's key fingerprint`;
  return (
    `VALID: ${rows}, hash chain intact from the link before them to the checkpoint at seq ${coveredBy!.seq}, ` +
    `signed ${coveredBy!.at}; ${bundle.checkpoints.length} checkpoint signature(s) verified ${whose}.`
  );
}
