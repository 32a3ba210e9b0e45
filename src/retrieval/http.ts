import { HttpException } from '@nestjs/common';
import { type Request } from 'express';
import { type AuthenticatedUser, sourceLimitOf } from '../access/index.js';
import { isValidUid } from '../dicom/index.js';

/** What the admin context's guard sets on every authenticated request. */
export interface RequestWithUser extends Request {
  strataUser?: AuthenticatedUser;
}

/** Who is asking, for the audit trail. */
export interface Requester {
  actor: string;
  role: string | null;
  host: string | null;
  /**
   * A pacs token's source: it finds and reads only instances recorded under it. Absent or null:
   * no limit (other roles; DIMSE peers, whose rights are per operation, dicom.peers.*.allow).
   */
  fromSource?: string | null;
}

export function requesterOf(req: RequestWithUser): Requester {
  return {
    actor: req.strataUser?.name ?? 'unknown',
    role: req.strataUser?.role ?? null,
    host: req.ip ?? null,
    fromSource: sourceLimitOf(req.strataUser),
  };
}

/** The DICOMweb root as this client reached it: RetrieveURLs and BulkDataURIs are built on it. */
export function dicomwebBase(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}/dicomweb`;
}

/** An RFC 9457 problem (rendered by the global filter). Details never carry patient data. */
export function problem(
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
): HttpException {
  return new HttpException({ message: detail, ...extra }, status);
}

/** Checks the UIDs of a resource path; 400 names the level, not the value. */
export function checkUids(uids: Record<string, string | undefined>): void {
  for (const [name, uid] of Object.entries(uids)) {
    if (uid !== undefined && !isValidUid(uid))
      throw problem(400, `the ${name} in the URL is not a valid UID`);
  }
}
