import { type TierName } from '../config/index.js';

/**
 * What the evaluator knows about one study and its patient: read from the catalog in one query
 * per batch (facts.repository.ts), or built by hand in tests and the simulator.
 */
export interface StudyFacts {
  studyInstanceUid: string;
  /** Groups the studies of one patient (Patient ID + issuer). */
  patientKey: string;
  patientId: string | null;
  /** Study Date as a calendar date (YYYY-MM-DD), null when absent or not a valid DA. */
  studyDate: string | null;
  /** When the archive first received the study (ISO 8601 timestamp). */
  receivedAt: string;
  /** When the study was last read (ISO 8601), null when never. */
  lastAccessedAt: string | null;
  /** Patient's Birth Date (YYYY-MM-DD), null when absent or not valid. */
  birthDate: string | null;
  /** Patient's Sex as received (M, F, O), null when absent. */
  sex: string | null;
  modalities: string[];
  bodyParts: string[];
  sopClasses: string[];
  /** Configured source names the study's instances came from. */
  sources: string[];
  callingAets: string[];
  adapters: string[];
  institutions: string[];
  studyDescription: string | null;
  sizeBytes: number;
  /** Tiers holding at least one of the study's objects now. */
  tiers: TierName[];
}

/** A legal hold as the evaluator sees it. */
export interface HoldFact {
  id: string;
  /** The hold covers every study of this patient (Patient ID), or one study. */
  patientId: string | null;
  studyInstanceUid: string | null;
  reason: string;
  caseReference: string | null;
  custodian: string | null;
  reviewDate: string | null;
  placedAt: string;
}

/** Where a study is in its two-step deletion. */
export interface StudyState {
  /** Set once the study is expired (hidden from query and retrieve, kept). */
  expiredAt: string | null;
  /** Expired by a policy rule ('retention') or by a manual delete request ('manual'). */
  expiredBy: 'retention' | 'manual' | null;
}

/** Everything the evaluator needs for one study. */
export interface EvaluationInput {
  study: StudyFacts;
  /** All studies of the same patient, this one included (for 'last-study' and 'laterStudy'). */
  patientStudies: StudyFacts[];
  /** Active holds covering the study (by study, or by its patient). */
  holds: HoldFact[];
  state: StudyState;
}
