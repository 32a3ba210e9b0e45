import { type DicomJsonDataset } from '../../dicom/index.js';
import { type CommitmentCheck } from './commitment.repository.js';

/** Storage Commitment Push Model SOP Class and its well-known SOP Instance (PS3.4 J.3). */
export const STORAGE_COMMITMENT_PUSH = '1.2.840.10008.1.20.1';
export const STORAGE_COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';

/** Event Type IDs of the N-EVENT-REPORT (PS3.4 J.3.3): all committed, or some failed. */
export const EVENT_ALL_COMMITTED = 1;
export const EVENT_SOME_FAILED = 2;

/** Largest Referenced SOP Sequence accepted in one request. */
export const MAX_REFERENCES = 100_000;

export class CommitmentRequestError extends Error {}

export interface CommitmentRequest {
  transactionUid: string;
  references: { sopClassUid: string; sopInstanceUid: string }[];
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

function uid(ds: DicomJsonDataset | undefined, tag: string, name: string): string {
  const v = ds?.[tag]?.Value?.[0];
  if (typeof v !== 'string' || v.length > 64 || !UID.test(v)) {
    throw new CommitmentRequestError(`${name} missing or not a UID`);
  }
  return v;
}

/** The N-ACTION-RQ's data set: Transaction UID (0008,1195) and Referenced SOP Sequence (0008,1199). */
export function readCommitmentRequest(ds: DicomJsonDataset): CommitmentRequest {
  const transactionUid = uid(ds, '00081195', 'Transaction UID');
  const items = ds['00081199']?.Value;
  if (!Array.isArray(items) || items.length === 0) {
    throw new CommitmentRequestError('Referenced SOP Sequence missing or empty');
  }
  if (items.length > MAX_REFERENCES) {
    throw new CommitmentRequestError(`more than ${MAX_REFERENCES} references in one request`);
  }
  return {
    transactionUid,
    references: items.map((item) => ({
      sopClassUid: uid(item as DicomJsonDataset, '00081150', 'Referenced SOP Class UID'),
      sopInstanceUid: uid(item as DicomJsonDataset, '00081155', 'Referenced SOP Instance UID'),
    })),
  };
}

/** The N-EVENT-REPORT-RQ's data set (PS3.4 Table J.3-2): what was committed, what failed and why. */
export function commitmentReport(
  transactionUid: string,
  retrieveAeTitle: string,
  checks: readonly CommitmentCheck[],
): { eventTypeId: number; dataset: DicomJsonDataset } {
  const ref = (c: CommitmentCheck): DicomJsonDataset => ({
    '00081150': { vr: 'UI', Value: [c.sopClassUid] },
    '00081155': { vr: 'UI', Value: [c.sopInstanceUid] },
  });
  const ok = checks.filter((c) => c.committed);
  const failed = checks.filter((c) => !c.committed);
  const dataset: DicomJsonDataset = {
    '00080054': { vr: 'AE', Value: [retrieveAeTitle] },
    '00081195': { vr: 'UI', Value: [transactionUid] },
  };
  if (ok.length > 0) dataset['00081199'] = { vr: 'SQ', Value: ok.map(ref) };
  if (failed.length > 0) {
    dataset['00081198'] = {
      vr: 'SQ',
      Value: failed.map((c) => ({
        ...ref(c),
        '00081197': { vr: 'US', Value: [c.failureReason ?? 0x0110] },
      })),
    };
  }
  return { eventTypeId: failed.length === 0 ? EVENT_ALL_COMMITTED : EVENT_SOME_FAILED, dataset };
}
