// Log hygiene. Strata's logs must never carry patient data, and text from the network must not
// be able to forge log lines.

/** Keeps network-supplied or handler-supplied text single-line and printable ASCII. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** For errors of our own making: the message is ours, so it is safe to log. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * For errors thrown by handlers: their messages may quote data set contents (patient data), so
 * only the error's class name is logged here. Handlers log their own failures, with care.
 */
export function handlerErrorText(err: unknown): string {
  return err instanceof Error ? `${err.name} thrown` : `${typeof err} thrown`;
}
