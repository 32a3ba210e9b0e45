/**
 * The one error type of the dicom context. `reason` is a stable code that callers map to a
 * DIMSE status or an HTTP error; `message` is for humans and logs, so it never carries patient
 * data (it may name an attribute keyword or a tag, never a value).
 */
export type DicomFormatErrorReason =
  | 'not-part10'
  | 'truncated'
  | 'malformed'
  | 'header-too-large'
  | 'missing-attribute'
  | 'invalid-uid'
  | 'parse-timeout'
  | 'parse-failed'
  | 'unsupported-transfer-syntax';

export class DicomFormatError extends Error {
  override readonly name = 'DicomFormatError';

  constructor(
    readonly reason: DicomFormatErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export function isDicomFormatError(err: unknown): err is DicomFormatError {
  return err instanceof DicomFormatError;
}
