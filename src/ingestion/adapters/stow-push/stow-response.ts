import { type IngestResult } from '../../ingest-request.js';

type Item = Record<string, { vr: string; Value?: unknown[] }>;

/** PS3.18 FailureReason for a refused instance (PS3.4 status codes). */
function failureReason(result: Extract<IngestResult, { ok: false }>): number {
  switch (result.reason) {
    case 'sop-class-not-supported':
      return 0x0122;
    case 'uid-mismatch':
    case 'study-mismatch':
      return 0xa900;
    case 'duplicate-rejected':
      return 0x0111;
    case 'storage-failure':
    case 'aborted':
      return 0xa700;
    default:
      return 0xc000;
  }
}

/** Collects per-part outcomes and renders the store response (PS3.18 10.5.3). */
export class StowResponse {
  private readonly referenced: Item[] = [];
  private readonly failed: Item[] = [];
  private warnings = 0;

  constructor(private readonly baseUrl: string) {}

  add(result: IngestResult): void {
    const uidItem = (cls?: string, inst?: string): Item => ({
      '00081150': cls ? { vr: 'UI', Value: [cls] } : { vr: 'UI' },
      '00081155': inst ? { vr: 'UI', Value: [inst] } : { vr: 'UI' },
    });
    if (result.ok) {
      const item = uidItem(result.sopClassUid, result.sopInstanceUid);
      item['00081190'] = {
        vr: 'UR',
        Value: [
          `${this.baseUrl}/studies/${result.studyInstanceUid}/instances/${result.sopInstanceUid}`,
        ],
      };
      if (result.outcome === 'kept-first') {
        // Not stored: an instance with this UID and other content exists and the policy keeps it.
        item['00081196'] = { vr: 'US', Value: [0xb000] };
        this.warnings++;
      }
      this.referenced.push(item);
    } else {
      const item = uidItem(result.sopClassUid, result.sopInstanceUid);
      item['00081197'] = { vr: 'US', Value: [failureReason(result)] };
      this.failed.push(item);
    }
  }

  get count(): number {
    return this.referenced.length + this.failed.length;
  }

  /** 200 all stored, 202 some failed or warned, 409 none stored. */
  status(): 200 | 202 | 409 {
    if (this.referenced.length === 0) return 409;
    return this.failed.length > 0 || this.warnings > 0 ? 202 : 200;
  }

  body(studyUid?: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (studyUid) out['00081190'] = { vr: 'UR', Value: [`${this.baseUrl}/studies/${studyUid}`] };
    if (this.failed.length) out['00081198'] = { vr: 'SQ', Value: this.failed };
    if (this.referenced.length) out['00081199'] = { vr: 'SQ', Value: this.referenced };
    return out;
  }
}
