import { type TierName } from '../config/index.js';

/**
 * Lifecycle policies as the evaluator sees them, once the YAML files under `policies/` have been
 * validated and parsed (policy-loader.ts). Plain data: the evaluator is a pure function of these,
 * the facts of a study and the date.
 */

/** A calendar period: '10 years', '6 months', '30 days', or a sum such as '2 years 6 months'. */
export interface Duration {
  years: number;
  months: number;
  days: number;
  /** As written in the policy file, for explanations ('10 years'). */
  text: string;
}

/** Facts that hold a set of strings (a study has several modalities, series, sources...). */
export type SetFact =
  | 'modality'
  | 'bodyPart'
  | 'sopClass'
  | 'sex'
  | 'source'
  | 'callingAet'
  | 'adapter'
  | 'institution';

/** Facts that are a date: the study date, when it was received, when it was last read. */
export type DateFact = 'studyDate' | 'receiveDate' | 'lastAccess';

/** The patient's age in whole years, at the study date or at the evaluation date. */
export type AgeFact = 'ageAtStudy' | 'ageNow';

/**
 * A condition on facts of the study and its patient. In YAML an object whose keys are all
 * combined with "and"; `all`, `any` and `not` nest.
 */
export type Condition =
  | { kind: 'always' }
  | { kind: 'all'; of: Condition[] }
  | { kind: 'any'; of: Condition[] }
  | { kind: 'not'; of: Condition }
  /** True when one of the study's values for the fact is one of `values` (case-insensitive). */
  | { kind: 'in'; fact: SetFact; values: string[] }
  /** Study Description matches a regular expression (case-insensitive). */
  | { kind: 'matches'; fact: 'studyDescription'; pattern: string }
  /** Age bounds in whole years: under ≤ age is false, atLeast > age is false. */
  | { kind: 'age'; fact: AgeFact; under?: number; atLeast?: number }
  /**
   * Date bounds: `before`/`after` are calendar dates (YYYY-MM-DD, exclusive); `olderThan`/`within`
   * are periods counted back from the evaluation date.
   */
  | {
      kind: 'date';
      fact: DateFact;
      before?: string;
      after?: string;
      olderThan?: Duration;
      within?: Duration;
    }
  /** The study's total size in bytes. */
  | { kind: 'size'; over?: number; under?: number }
  /** The patient has a study dated after this one that meets `where` (e.g. a later mammogram). */
  | { kind: 'laterStudy'; where: Condition };

/** Where a retention period is counted from. */
export type RetentionAnchor =
  /** The study's date (its receive date when the study has none). */
  | 'study-date'
  /** When the archive received the study. */
  | 'receive-date'
  /** The date of the patient's most recent study: a new study re-evaluates the older ones. */
  | 'last-study'
  /** The day the patient reaches the age of majority (settings.ageOfMajority). */
  | 'age-of-majority';

export interface RetentionRule {
  id: string;
  /** The policy file it came from, relative to the policies directory. */
  file: string;
  description: string | null;
  when: Condition;
  keep: { forever: true } | { forever: false; period: Duration; from: RetentionAnchor };
  /** Bounds on the result, counted from the study date (receive date when none). */
  atLeast: Duration | null;
  atMost: Duration | null;
}

/** Which date a tiering period is counted from. */
export type TieringAnchor =
  /** The last time the study was read (its receipt when it was never read). */
  | 'last-access'
  /** When the archive received the study. */
  | 'receipt';

export interface TieringRule {
  id: string;
  file: string;
  description: string | null;
  when: Condition;
  /** The rule applies to studies with objects on this tier. */
  from: TierName;
  to: TierName;
  after: Duration;
  since: TieringAnchor;
}

export interface LifecycleSettings {
  /** Age (years) at which a minor's retention period starts ('age-of-majority'). Default 21. */
  ageOfMajority: number;
  /** Days an expired study is kept (hidden) before it is purged. Default 30. */
  purgeGraceDays: number;
  /** Whether reading a study from warm or cold recalls it to hot. Default false (shipped: true). */
  recallOnAccess: boolean;
}

export interface PolicySet {
  /** The directory the set was read from. */
  dir: string;
  settings: LifecycleSettings;
  retention: RetentionRule[];
  tiering: TieringRule[];
  /** The files read (relative paths), in order. */
  files: string[];
  /** SHA-256 (hex) over the files' names and contents: names a version of the set in audit rows. */
  version: string;
}
