import { describe, expect, it } from 'vitest';
import { canonicalEncoding } from '../audit-event.js';
import { ChainCrypto, GENESIS_HASH } from './chain-crypto.repository.js';
import { type ChainReport, type ChainRow, ChainVerifier, type Locate } from './chain-verifier.js';

const crypto = new ChainCrypto();

/** A chain of n rows as strata_audit_append makes it (legacy: the first `legacy` without seq). */
function chain(n: number, legacy = 0): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev: Buffer = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const at = new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString();
    const event = {
      actor: `PACS${seq % 3}`,
      actorHost: '10.0.0.1',
      role: 'pacs',
      action: seq % 2 ? 'instance.stored' : 'study.retrieved',
      outcome: 'success' as const,
      patientId: `P${seq % 5}`,
      studyInstanceUid: `1.2.3.${seq}`,
      instances: seq,
      detail: { sop: `1.2.3.${seq}.1`, nested: { b: 1, a: [seq, 'x'] } },
    };
    const canonical = canonicalEncoding(at, event);
    const hash =
      seq <= legacy
        ? crypto.legacyLinkHash(prev, canonical)
        : crypto.linkHash(prev, seq, canonical);
    rows.push({
      ...event,
      seq,
      at,
      actorHost: event.actorHost,
      prevHash: prev,
      hash,
      detail: JSON.parse(JSON.stringify(event.detail)) as Record<string, unknown>,
    });
    prev = hash;
  }
  return rows;
}

/** Recomputes a row's hash for its (possibly changed) columns: a forger's rewrite. */
function rehash(row: ChainRow, legacy = false): ChainRow {
  const canonical = canonicalEncoding(row.at, row);
  return {
    ...row,
    hash: legacy
      ? crypto.legacyLinkHash(row.prevHash, canonical)
      : crypto.linkHash(row.prevHash, row.seq, canonical),
  };
}

async function verify(
  rows: ChainRow[],
  checkpoints: Map<number, string> = new Map(),
): Promise<ChainReport> {
  const v = new ChainVerifier(crypto, { seq: 0, hash: GENESIS_HASH }, checkpoints);
  for (const r of rows) v.push(r);
  const locate: Locate = async (hashes, prevHashes) => {
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
  };
  return v.finish(locate);
}

const clean = (r: ChainReport) => ({
  missing: r.missing,
  added: r.added,
  altered: r.altered,
  reordered: r.reordered,
  kinds: r.problems.map((p) => `${p.kind}@${p.seq}${p.toSeq ? `-${p.toSeq}` : ''}`),
});

describe('ChainVerifier', () => {
  it('accepts an intact chain', async () => {
    const rows = chain(20);
    const r = await verify(rows, new Map([[10, rows[9]!.hash.toString('hex')]]));
    expect(clean(r)).toEqual({ missing: [], added: [], altered: [], reordered: [], kinds: [] });
    expect(r).toMatchObject({
      rowsChecked: 20,
      firstSeq: 1,
      lastSeq: 20,
      checkpointsMatched: [10],
    });
    expect(r.headHash).toBe(rows[19]!.hash.toString('hex'));
  });

  it('an altered column: the row no longer gives its hash', async () => {
    const rows = chain(10);
    rows[4] = { ...rows[4]!, actor: 'mallory' };
    const r = await verify(rows);
    expect(clean(r)).toMatchObject({ altered: [5], kinds: ['altered@5'] });
    expect(r.firstBrokenLink?.message).toMatch(/seq 5 was altered/);
  });

  it('an altered detail, time or position-less field each count', async () => {
    for (const change of [
      (row: ChainRow) => ({ ...row, detail: { ...row.detail, extra: true } }),
      (row: ChainRow) => ({ ...row, at: row.at.replace('.000Z', '.001Z') }),
      (row: ChainRow) => ({ ...row, instances: null }),
      (row: ChainRow) => ({ ...row, prevHash: Buffer.alloc(32, 1) }),
    ]) {
      const rows = chain(6);
      rows[2] = change(rows[2]!);
      expect((await verify(rows)).altered).toEqual([3]);
    }
  });

  it('a row rewritten with a recomputed hash: the next row still links to the original', async () => {
    const rows = chain(10);
    rows[4] = rehash({ ...rows[4]!, patientId: 'OTHER' });
    const r = await verify(rows);
    expect(clean(r)).toMatchObject({ altered: [5], kinds: ['altered@5'] });
    expect(r.problems[0]!.message).toMatch(/rewritten with a recomputed hash/);
  });

  it('a deleted row is a missing position', async () => {
    const rows = chain(10);
    rows.splice(4, 1);
    expect(clean(await verify(rows))).toMatchObject({
      missing: [{ fromSeq: 5, toSeq: 5 }],
      altered: [],
      kinds: ['missing@5'],
    });
  });

  it('a deleted row with the rest renumbered: missing, and the rest reported as moved', async () => {
    const rows = chain(10);
    rows.splice(4, 1);
    for (let i = 4; i < rows.length; i++) rows[i] = { ...rows[i]!, seq: rows[i]!.seq - 1 };
    const r = await verify(rows);
    expect(r.missing).toEqual([{ fromSeq: 5, toSeq: 5 }]);
    expect(r.reordered).toHaveLength(5);
    expect(r.reordered[0]).toEqual({ seq: 5, belongsAt: 6 });
    expect(clean(r).kinds).toEqual(['missing@5', 'reordered@5-9']);
  });

  it('deleted rows at the end are caught by a checkpoint after them', async () => {
    const rows = chain(10);
    const signed = new Map([[10, rows[9]!.hash.toString('hex')]]);
    const r = await verify(rows.slice(0, 8), signed);
    expect(r.missing).toEqual([{ fromSeq: 9, toSeq: 10 }]);
    expect(r.problems[0]!.message).toMatch(/missing after the last row/);
  });

  it('two rows swapped: both reordered, by position', async () => {
    const rows = chain(10);
    const [a, b] = [rows[4]!, rows[5]!];
    rows[4] = { ...b, seq: 5 };
    rows[5] = { ...a, seq: 6 };
    expect(clean(await verify(rows))).toMatchObject({
      missing: [],
      altered: [],
      reordered: [
        { seq: 5, belongsAt: 6 },
        { seq: 6, belongsAt: 5 },
      ],
    });
  });

  it('rows swapped far apart are found through their neighbours', async () => {
    const rows = chain(20);
    const [a, b] = [rows[4]!, rows[13]!];
    rows[4] = { ...b, seq: 5 };
    rows[13] = { ...a, seq: 14 };
    expect(clean(await verify(rows))).toMatchObject({
      missing: [],
      altered: [],
      added: [],
      reordered: [
        { seq: 5, belongsAt: 14 },
        { seq: 14, belongsAt: 5 },
      ],
    });
  });

  it('an inserted row, the rest shifted: added, the rest one position later', async () => {
    const rows = chain(10);
    const forged: ChainRow = { ...rows[3]!, actor: 'mallory', hash: Buffer.alloc(32, 7), seq: 5 };
    const shifted = rows.slice(4).map((r) => ({ ...r, seq: r.seq + 1 }));
    const r = await verify([...rows.slice(0, 4), forged, ...shifted]);
    expect(clean(r)).toMatchObject({ added: [5], missing: [], altered: [] });
    expect(r.reordered[0]).toEqual({ seq: 6, belongsAt: 5 });
    expect(clean(r).kinds).toEqual(['added@5', 'reordered@6-11']);
  });

  it('an inserted row with a well-formed hash, the rest shifted: still added', async () => {
    const rows = chain(10);
    const forged = rehash({ ...rows[4]!, actor: 'mallory', prevHash: rows[3]!.hash });
    const shifted = rows.slice(4).map((r) => ({ ...r, seq: r.seq + 1 }));
    const r = await verify([...rows.slice(0, 4), forged, ...shifted]);
    expect(clean(r)).toMatchObject({ added: [5], missing: [], altered: [] });
  });

  it('a chain rewritten after a checkpoint (every hash recomputed) fails the checkpoint', async () => {
    const rows = chain(10);
    const signed = new Map([
      [4, rows[3]!.hash.toString('hex')],
      [8, rows[7]!.hash.toString('hex')],
    ]);
    rows[5] = rehash({ ...rows[5]!, actor: 'mallory' });
    for (let i = 6; i < rows.length; i++)
      rows[i] = rehash({ ...rows[i]!, prevHash: rows[i - 1]!.hash });
    const r = await verify(rows, signed);
    expect(clean(r)).toMatchObject({ altered: [], missing: [], kinds: ['checkpoint@8'] });
    expect(r.problems[0]!.message).toMatch(/between seq 5 and 8 were rewritten/);
    expect(r.checkpointsMatched).toEqual([4]);
  });

  it('legacy rows (before positions were hashed) verify, and their gaps are rolled-back appends', async () => {
    const rows = chain(10, 5);
    // seq 3 was a rolled-back append in the old scheme: the next row took seq 4, linked to seq 2.
    const legacy = rows.slice(0, 5).map((r, i) => (i >= 2 ? { ...r, seq: r.seq + 1 } : r));
    const relinked: ChainRow[] = [];
    let prev: Buffer = GENESIS_HASH;
    for (const r of [...legacy, ...rows.slice(5).map((x) => ({ ...x, seq: x.seq + 1 }))]) {
      const row = rehash({ ...r, prevHash: prev }, r.seq <= 6);
      relinked.push(row);
      prev = row.hash;
    }
    const r = await verify(relinked);
    expect(clean(r)).toEqual({ missing: [], added: [], altered: [], reordered: [], kinds: [] });
    expect(r.legacyRows).toBe(5);
  });

  it('a legacy-hashed row after rows of the current form is not accepted', async () => {
    const rows = chain(6);
    rows[5] = rehash(rows[5]!, true);
    expect((await verify(rows)).altered).toEqual([6]);
  });
});
