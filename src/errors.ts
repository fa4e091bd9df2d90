/**
 * The error every expected failure raises: bad input, a mismatched model, a worker that failed,
 * a diverging loss. Its message is one line that names the problem and, where there is one, the fix;
 * the CLI prints it as is.
 */
export class DistillError extends Error {
  override name = 'DistillError';
}

/** Raised when a run is cancelled through `signal` (or Ctrl-C in the CLI). */
export class DistillCancelledError extends DistillError {
  override name = 'DistillCancelledError';
}

/**
 * Error classes do not cross threads (only the message does), so a worker marks the messages of its
 * DistillErrors with this tag: the coordinator then knows the failure is deterministic (bad data, a
 * diverging loss) and that restarting the workers would only repeat it.
 */
export const DETERMINISTIC_TAG = '[deterministic] ';

/** Throws a DistillError with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new DistillError(typeof message === 'string' ? message : message());
}

/** The message of anything thrown, on one line. */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
