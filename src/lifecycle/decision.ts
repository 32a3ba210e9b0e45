import { type TierName } from '../config/index.js';
import { type HoldFact } from './facts.js';

/** One rule's verdict on a study, with the reasons (for explain and the audit trail). */
export interface RuleMatch {
  rule: string;
  file: string;
  /** Human-readable reasons the rule's condition held, e.g. "modality MG is one of MG". */
  why: string[];
}

export interface RetentionMatch extends RuleMatch {
  /** The day retention ends under this rule (YYYY-MM-DD), null when kept forever or unknown. */
  until: string | null;
  forever: boolean;
  /** Why the rule could not compute a date (e.g. no birth date for 'age-of-majority'): keep. */
  undetermined: string | null;
  /** How the date was computed, e.g. "10 years from the last study (2019-04-02)", bounds applied. */
  computation: string;
  /** Whether this rule set the study's retention (the longest one). */
  won: boolean;
}

export interface RetentionDecision {
  /** Kept forever: a keep-forever rule matched, a rule could not compute its date, or none matched. */
  forever: boolean;
  /** The day retention ends (YYYY-MM-DD): on and after it, the study may be expired. */
  until: string | null;
  /** The rule that set the retention, null when no rule matched. */
  rule: string | null;
  matched: RetentionMatch[];
  /** Rules whose condition did not hold, with the first reason it failed. */
  notMatched: { rule: string; file: string; why: string }[];
  /** True when the retention has ended at the evaluation date. */
  ended: boolean;
}

export interface TieringMatch extends RuleMatch {
  from: TierName;
  to: TierName;
  /** When the move is due (ISO 8601 date, YYYY-MM-DD). */
  dueOn: string;
  computation: string;
}

export interface TieringDecision {
  /** Tiers the study's objects are on now. */
  current: TierName[];
  /**
   * Moves due at the evaluation date, at most one per source tier: of several due rules from one
   * tier, the one due last (the furthest step, e.g. straight to cold rather than warm first).
   */
  due: TieringMatch[];
  /** The next move not yet due, the earliest, or null. */
  next: TieringMatch | null;
  matched: TieringMatch[];
}

/** What should happen to the study now. */
export type LifecycleAction =
  | { kind: 'none' }
  /** Retention ended, no hold: expire (hide, keep). */
  | { kind: 'expire'; rule: string | null }
  /** Expired more than the grace period ago, no hold: purge. */
  | { kind: 'purge' }
  /** Retention ended (or purge due) but a hold is in the way. */
  | { kind: 'blocked'; by: 'expire' | 'purge'; holds: string[] };

export interface LifecycleDecision {
  studyInstanceUid: string;
  /** The evaluation date (ISO 8601 timestamp). */
  at: string;
  policyVersion: string;
  retention: RetentionDecision;
  tiering: TieringDecision;
  holds: HoldFact[];
  expiredAt: string | null;
  /** When an expired study becomes purgeable (YYYY-MM-DD), null when not expired. */
  purgeOn: string | null;
  action: LifecycleAction;
}
