/**
 * The chain positions of a time range, as SQL: the first row at or after `from` and the last row
 * before `to`. Since AuditTrail1764300011000 times never step back along the chain, so each is
 * the first (last) row in (at, seq) order, one probe of audit_events_at_seq; the rows appended
 * before it (strata_audit_monotonic_from) are looked at one by one, as their times could step
 * back by a few milliseconds. Every row of the range lies between the two positions: a search
 * adds them to its conditions, which makes a time range an index range on seq.
 *
 * `from` and `to` are SQL expressions of timestamptz (parameters), or null for an open end.
 */
export function positionsOf(from: string | null, to: string | null): { lo: string; hi: string } {
  const lo =
    from === null
      ? '1'
      : `least(
          (SELECT seq FROM audit_events WHERE at >= ${from} AND seq >= strata_audit_monotonic_from()
            ORDER BY at, seq LIMIT 1),
          (SELECT min(seq) FROM audit_events WHERE seq < strata_audit_monotonic_from() AND at >= ${from}))`;
  const hi =
    to === null
      ? '(SELECT max(seq) FROM audit_events)'
      : `greatest(
          (SELECT seq FROM audit_events WHERE at < ${to} AND seq >= strata_audit_monotonic_from()
            ORDER BY at DESC, seq DESC LIMIT 1),
          (SELECT max(seq) FROM audit_events WHERE seq < strata_audit_monotonic_from() AND at < ${to}))`;
  return { lo, hi };
}
