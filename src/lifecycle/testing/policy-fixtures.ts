import { parseDuration } from '../duration.js';
import { type HoldFact, type StudyFacts } from '../facts.js';
import {
  type Condition,
  type Duration,
  type PolicySet,
  type RetentionRule,
  type TieringRule,
} from '../policy-model.js';

/**
 * Fixtures for the lifecycle specs (never for production code): the shipped default policies
 * (policies/retention, policies/tiering), built in code, and builders of study and hold facts.
 */

/** A duration as written in a policy file: '10 years', '30 days'. */
export function dur(text: string): Duration {
  return parseDuration(text);
}

export const MG: Condition = { kind: 'in', fact: 'modality', values: ['MG'] };
export const LATER_MG: Condition = { kind: 'laterStudy', where: MG };

// ---------------------------------------------------------------------------------------------
// Rules

export function retention(
  id: string,
  when: Condition,
  keep: RetentionRule['keep'],
  bounds: { atLeast?: string; atMost?: string } = {},
): RetentionRule {
  return {
    id,
    file: 'retention.yaml',
    description: null,
    when,
    keep,
    atLeast: bounds.atLeast ? dur(bounds.atLeast) : null,
    atMost: bounds.atMost ? dur(bounds.atMost) : null,
  };
}

/** The `keep` of a retention rule that keeps for a period. */
export function keep(
  period: string,
  from: 'study-date' | 'receive-date' | 'last-study' | 'age-of-majority',
) {
  return { forever: false as const, period: dur(period), from };
}

export const DEFAULT_RETENTION: RetentionRule[] = [
  retention(
    'adult',
    { kind: 'age', fact: 'ageAtStudy', atLeast: 21 },
    keep('10 years', 'last-study'),
  ),
  retention(
    'minor',
    { kind: 'age', fact: 'ageAtStudy', under: 21 },
    keep('2 years', 'age-of-majority'),
  ),
  retention(
    'mqsa-later-mammogram',
    { kind: 'all', of: [MG, LATER_MG] },
    keep('5 years', 'study-date'),
  ),
  retention(
    'mqsa-last-mammogram',
    { kind: 'all', of: [MG, { kind: 'not', of: LATER_MG }] },
    keep('10 years', 'study-date'),
  ),
];

/** A tiering rule for every study, counted from the last access. */
export function tiering(
  id: string,
  from: TieringRule['from'],
  to: TieringRule['to'],
  after: string,
): TieringRule {
  return {
    id,
    file: 'tiering.yaml',
    description: null,
    when: { kind: 'always' },
    from,
    to,
    after: dur(after),
    since: 'last-access',
  };
}

export const DEFAULT_TIERING: TieringRule[] = [
  tiering('hot-to-warm', 'hot', 'warm', '30 days'),
  tiering('warm-to-cold', 'warm', 'cold', '1 year'),
];

/** The default policies (version 'v-test'), with any part replaced. */
export function policies(over: Partial<PolicySet> = {}): PolicySet {
  return {
    dir: 'policies',
    settings: { ageOfMajority: 21, purgeGraceDays: 30, recallOnAccess: true },
    retention: DEFAULT_RETENTION,
    tiering: DEFAULT_TIERING,
    files: ['retention.yaml', 'tiering.yaml'],
    version: 'v-test',
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Facts

let uid = 0;

/**
 * An adult's CT study of patient P1 (born 1970-01-15), dated 2019-04-02, never read, on the hot
 * tier; each with a new Study Instance UID unless given.
 */
export function study(over: Partial<StudyFacts> = {}): StudyFacts {
  uid++;
  return {
    studyInstanceUid: `1.2.826.0.1.${uid}`,
    patientKey: 'P1|',
    patientId: 'P1',
    studyDate: '2019-04-02',
    receivedAt: '2019-04-02T09:00:00.000Z',
    lastAccessedAt: null,
    birthDate: '1970-01-15',
    sex: 'F',
    modalities: ['CT'],
    bodyParts: [],
    sopClasses: [],
    sources: [],
    callingAets: [],
    adapters: [],
    institutions: [],
    studyDescription: null,
    sizeBytes: 1000,
    tiers: ['hot'],
    ...over,
  };
}

/** A litigation hold on patient P1, unless told otherwise. */
export function hold(id: string, over: Partial<HoldFact> = {}): HoldFact {
  return {
    id,
    patientId: 'P1',
    studyInstanceUid: null,
    reason: 'litigation',
    caseReference: null,
    custodian: null,
    reviewDate: null,
    placedAt: '2020-01-01T00:00:00Z',
    ...over,
  };
}
