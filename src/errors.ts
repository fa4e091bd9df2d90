/**
 * The error every expected failure raises: bad input, a mismatched model, a worker that failed,
 * a diverging loss. Its message is one line that names the problem and, where there is one, the fix;
 * the CLI prints it as is.
 */
export class DistillError extends Error {
  override name = 'DistillError';
  /**
   * The library options the message names, as written in it (`learningRate`, `softLabelTopK`): the CLI
   * says its flags in their place.
   */
  readonly options: readonly string[];

  constructor(message: string, options: readonly string[] = []) {
    super(message);
    this.options = options;
  }
}

/**
 * A model whose output has another number of classes than the data: `outputClasses` says how many it has,
 * so that an ensemble can name every member's count.
 */
export class ClassCountMismatch extends DistillError {
  override name = 'ClassCountMismatch';
  constructor(
    message: string,
    readonly outputClasses: number,
    options: readonly string[] = [],
  ) {
    super(message, options);
  }
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
const DETERMINISTIC_TAG = /^\[deterministic(?::([\w.,]*))?\] /;

/** The message a worker sends for `error`: tagged (with the options it names) when it is a DistillError. */
export function messageForCoordinator(error: unknown): unknown {
  return error instanceof DistillError ? new Error(`[deterministic:${error.options.join(',')}] ${error.message}`) : error;
}

/** Reads a worker's message: whether it was a DistillError, the options it names, and the text. */
export function readWorkerMessage(message: string): { deterministic: boolean; options: string[]; text: string } {
  const tag = DETERMINISTIC_TAG.exec(message);
  if (!tag) return { deterministic: false, options: [], text: message };
  return { deterministic: true, options: tag[1] ? tag[1].split(',') : [], text: message.slice(tag[0].length) };
}

/**
 * A worker failed: it threw, exited, ran out of memory or stopped making progress. The pool has been torn
 * down. `retryable` is false when the failure is deterministic (a DistillError raised in the worker, such
 * as a diverging loss), since a fresh pool would only repeat it.
 */
export class WorkerFailure extends DistillError {
  override name = 'WorkerFailure';
  constructor(
    message: string,
    readonly rank: number | undefined,
    readonly retryable: boolean,
    options: readonly string[] = [],
  ) {
    super(message, options);
  }
}

/** Throws a DistillError with `message` (naming `options`, see {@link DistillError.options}) unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string), options: readonly string[] = []): asserts condition {
  if (!condition) throw new DistillError(typeof message === 'string' ? message : message(), options);
}

/** The message of anything thrown, on one line. */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
