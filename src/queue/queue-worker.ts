import { DistillCancelledError, DistillError, check, messageOf } from '../errors.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import { type KeysOfGroups, type LibraryKeys, type SameKeys, resolveOptions } from '../options/resolve.js';
import { isConnectionError, settlesWithin, watchConnection } from './connection-watch.js';
import { type LabelledJob, jobLabeller, protocolMismatch, refusalError } from './label-job.js';
import {
  type BullMQ,
  JOB_NAME,
  JOB_PROTOCOL,
  type LabelJob,
  TRIAL_JOB_NAME,
  type TrialJobHeader,
  RESULT_TTL_SECONDS,
  closeClient,
  connectQueue,
  loadQueueModules,
  parseQueueUrl,
  redactUrl,
  resultKey,
} from './queue-connection.js';
import { ImportingPool } from './worker-pool.js';

/** How long a dead worker's job waits before another worker takes it, by default (LabelWorkerOptions.stallSeconds). */
export const DEFAULT_STALL_SECONDS = 30;

/** Everything {@link serveLabelQueue} takes: the runtime and queue groups, and the worker's own. */
export interface LabelWorkerOptions {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME (see parseQueueUrl). */
  queue: string;
  /** Worker threads; the process takes as many jobs at once. Default: the machine's available parallelism. */
  workers?: number;
  backend?: BackendChoice;
  kernels?: KernelChoice;
  /** Modules every thread imports, on top of those each job names (the coordinator's workerImports). */
  workerImports?: string[];
  workerMemoryMb?: number | null;
  barrierTimeoutMs?: number;
  /**
   * How long a job may go without its worker renewing its lock before another worker takes it over (a
   * worker killed mid-job leaves its job stalled that long). Default {@link DEFAULT_STALL_SECONDS}.
   */
  stallSeconds?: number;
  /** Seconds without Redis before the worker stops with an error; 0 waits for ever. Default 600. */
  queueTimeoutSeconds?: number;
  /** One line per event worth a log line (ready, each job, refusals, Redis lost and back); never shows a secret. */
  onLog?: (line: string) => void;
  /**
   * Runs a sweep's trial jobs (`sweep --queue`); `tfjs-distill worker` passes sweep's runner (runTrialJob).
   * Without it, a trial job fails for good, naming this worker.
   */
  trialRunner?: TrialJobRunner;
  /** Aborting it stops the worker within a few seconds: running jobs are handed back to the queue for another worker. */
  signal?: AbortSignal;
}

/** The option groups a labelling worker resolves, those of their options it does not use, and its own. */
const LABEL_WORKER_SCOPE = {
  groups: ['runtime', 'queue'],
  omit: ['threadsPerWorker', 'trainWorkers', 'maxRestarts', 'onProgress'],
  own: ['queue', 'stallSeconds', 'onLog', 'trialRunner'],
} as const;
// LabelWorkerOptions names exactly the options of LABEL_WORKER_SCOPE (this fails to compile otherwise).
type LabelWorkerKeys =
  | Exclude<KeysOfGroups<(typeof LABEL_WORKER_SCOPE)['groups'][number]> & LibraryKeys, (typeof LABEL_WORKER_SCOPE)['omit'][number]>
  | (typeof LABEL_WORKER_SCOPE)['own'][number];
const WORKER_OPTIONS_MATCH: SameKeys<keyof LabelWorkerOptions, LabelWorkerKeys> = true;
void WORKER_OPTIONS_MATCH;

/** What a trial runner is given besides the job: the stop signal, the log, and how to fail a job for good. */
export interface TrialJobTools {
  /** Aborted when the worker stops: the trial stops, and its job goes back to the queue. */
  signal: AbortSignal;
  /** One line for the worker's log (the trial's progress and outcome). */
  log: (line: string) => void;
  /** An error that fails the job at once, whatever its attempts left (BullMQ's UnrecoverableError). */
  unrecoverable: (message: string) => Error;
}

/** Runs one trial job's data on this machine; what it returns is the job's BullMQ return value. */
export type TrialJobRunner = (job: { id: string; data: TrialJobHeader; attempt: number }, tools: TrialJobTools) => Promise<unknown>;

/** What {@link serveLabelQueue} did. */
export interface LabelWorkerResult {
  /** Jobs done: rows labelled, or sweep trials trained. */
  jobs: number;
  /** Jobs that were running when the worker stopped, given back to the queue unfinished. */
  handedBack: number;
}

/** How long a running job may take to go back to the queue when the worker stops. */
const HAND_BACK_MS = 1500;
/** How long BullMQ's worker may take to close its connections before they are dropped. */
const CLOSE_MS = 2500;

/**
 * A labelling worker: takes jobs from the queue, labels their rows on a local pool of worker threads (see
 * jobLabeller) and leaves the logits in Redis as raw float32 bytes for the coordinator. A job whose data or
 * teacher hashes differ from what this machine loads from the same paths is refused, the job fails for good
 * (the coordinator stops, naming it), and the worker stops: it could label nothing of this run.
 *
 * Stopping (`signal`) takes a few seconds in every state, Redis reachable or not: running jobs stop and go
 * back to the queue (or, when Redis is unreachable, stay locked until another worker takes them over), and
 * every connection closes. Returns then; rejects with a refusal, or when Redis stays unreachable for
 * `queueTimeoutSeconds`.
 */
export async function serveLabelQueue(options: LabelWorkerOptions): Promise<LabelWorkerResult> {
  const address = parseQueueUrl(options.queue);
  const config = resolveOptions(options, LABEL_WORKER_SCOPE);
  const stallSeconds = options.stallSeconds ?? DEFAULT_STALL_SECONDS;
  check(Number.isFinite(stallSeconds) && stallSeconds >= 1, `stallSeconds must be a number >= 1, got ${stallSeconds}`, ['stallSeconds']);
  const timeoutSeconds = config.queueTimeoutSeconds;
  const log = options.onLog ?? (() => {});
  const { bullmq, Redis } = await loadQueueModules();
  const client = await connectQueue(Redis, address);

  const { workers, backend, kernels, barrierTimeoutMs } = config;
  const pool = new ImportingPool({ workers, backend, kernels, barrierTimeoutMs, workerMemoryMb: config.workerMemoryMb ?? undefined }, [
    ...config.workerImports,
  ]);
  const stopping = new AbortController();
  let failure: DistillError | undefined;
  const stop = (error?: DistillError) => {
    failure ??= error;
    stopping.abort();
  };
  const watch = watchConnection(client, { shown: address.shown, timeoutSeconds, say: log, onGiveUp: stop });
  const unrecoverable = (message: string) => new bullmq.UnrecoverableError(message);
  const label = jobLabeller({
    pool,
    log,
    stopping: stopping.signal,
    refuse: (message) => {
      log(`refused: ${message}`);
      setImmediate(() => stop(refusalError(message)));
      return new bullmq.UnrecoverableError(`refused by a worker: ${message}`);
    },
    unrecoverable,
  });
  const counts: LabelWorkerResult = { jobs: 0, handedBack: 0 };
  const store = (id: string, done: LabelledJob) => client.set(resultKey(address.name, id), done.bytes, 'EX', RESULT_TTL_SECONDS);
  const trial = (job: { id?: string; data: TrialJobHeader; attemptsMade: number }) => {
    const what = `trial ${job.data.trial}`;
    if (job.data.protocol !== JOB_PROTOCOL) {
      const message = `${what}: ${protocolMismatch(job.data.protocol)}`;
      log(`refused: ${message}`);
      setImmediate(() => stop(refusalError(message)));
      throw new bullmq.UnrecoverableError(`refused by a worker: ${message}`);
    }
    if (!options.trialRunner) {
      throw unrecoverable(
        `${what}: this worker runs no sweep trials (a library serveLabelQueue without trialRunner); run tfjs-distill worker`,
      );
    }
    return options.trialRunner(
      { id: job.id!, data: job.data, attempt: job.attemptsMade + 1 },
      { signal: stopping.signal, log, unrecoverable },
    );
  };
  const processor = jobProcessor(bullmq, {
    label,
    trial,
    store,
    log,
    stopping: stopping.signal,
    counts,
    redisLost: () => watch.lostSince !== null,
  });
  const worker = new bullmq.Worker<LabelJob>(address.name, processor, {
    connection: address.connection,
    concurrency: workers,
    lockDuration: stallSeconds * 1000,
    stalledInterval: stallSeconds * 1000,
    // A job whose workers keep dying is more likely a job that kills workers: after two recoveries, fail it.
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on('error', quietErrors(log));
  const onAbort = () => stop();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) stop();
  try {
    const ready = await untilAborted(pool.first, stopping.signal).catch((error: unknown) => {
      if (stopping.signal.aborted) return undefined;
      throw error;
    });
    if (ready) {
      log(`ready: ${ready.workers} worker thread${ready.workers === 1 ? '' : 's'} (${ready.backend}) on ${address.shown}`);
      worker.run().catch((error: unknown) => stop(new DistillError(`the queue worker stopped: ${redactUrl(messageOf(error))}`)));
      await new Promise((resolve) => stopping.signal.addEventListener('abort', resolve, { once: true }));
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    const redisLost = watch.lostSince !== null;
    watch.stop();
    await shutDown(worker, client, pool, redisLost);
  }
  if (failure) throw failure;
  return counts;
}

/** What {@link jobProcessor} needs: the labeller, where results go, and the stop signal. */
interface ProcessorContext {
  label: (job: LabelJob) => Promise<LabelledJob>;
  trial: (job: { id?: string; data: TrialJobHeader; attemptsMade: number }) => Promise<unknown>;
  store: (jobId: string, done: LabelledJob) => Promise<unknown>;
  log: (line: string) => void;
  stopping: AbortSignal;
  counts: LabelWorkerResult;
  /** True while Redis is unreachable: a job cannot be handed back then. */
  redisLost: () => boolean;
}

/**
 * BullMQ's processor: labels a job and stores its logits, or runs a sweep trial; when the worker stops
 * mid-job, hands the job back to the queue (BullMQ's WaitingError: no attempt is spent) so that another
 * worker takes it at once.
 */
function jobProcessor(bullmq: BullMQ, context: ProcessorContext) {
  const { log, stopping, counts } = context;
  return async (
    job: { id?: string; name: string; data: LabelJob | TrialJobHeader; attemptsMade: number; moveToWait(token?: string): Promise<number> },
    token?: string,
  ) => {
    if (job.name !== JOB_NAME && job.name !== TRIAL_JOB_NAME) return null;
    const isTrial = job.name === TRIAL_JOB_NAME;
    const rows = isTrial
      ? `trial ${(job.data as TrialJobHeader).trial}`
      : `rows ${(job.data as LabelJob).start}-${(job.data as LabelJob).end - 1}`;
    try {
      if (stopping.aborted) throw new DistillCancelledError('stopping');
      log(`${rows}: started (attempt ${job.attemptsMade + 1})`);
      if (isTrial) {
        const started = performance.now();
        const result = await untilAborted(context.trial(job as { id?: string; data: TrialJobHeader; attemptsMade: number }), stopping);
        counts.jobs++;
        log(`${rows}: done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
        return result;
      }
      const labelJob = job.data as LabelJob;
      const done = await untilAborted(context.label(labelJob), stopping);
      await untilAborted(context.store(job.id!, done), stopping);
      counts.jobs++;
      log(`${rows}: done in ${done.seconds.toFixed(2)} s (${Math.round(done.rows / done.seconds)} rows/s)`);
      return { rows: done.rows, seconds: done.seconds };
    } catch (error) {
      if (!stopping.aborted) {
        // A trial's failure is this machine's to explain (a path it cannot read, say): the coordinator only sees the reason.
        if (isTrial) log(`${rows}: failed (attempt ${job.attemptsMade + 1}): ${messageOf(error)}`);
        throw error;
      }
      const handedBack = !context.redisLost() && (await settlesWithin(job.moveToWait(token), HAND_BACK_MS));
      counts.handedBack++;
      log(
        handedBack
          ? `${rows}: handed back to the queue, unfinished`
          : `${rows}: unfinished; Redis did not answer, so another worker takes it once its lock runs out`,
      );
      throw new bullmq.WaitingError();
    }
  };
}

/** Rejects with DistillCancelledError as soon as `signal` aborts, else settles as `promise` does. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new DistillCancelledError('stopping'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DistillCancelledError('stopping'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Logs BullMQ's errors, but not connection errors (the connection watch reports those once) nor one line twice in a row. */
function quietErrors(log: (line: string) => void): (error: Error) => void {
  let last = '';
  return (error) => {
    if (isConnectionError(error)) return;
    const line = `queue error: ${redactUrl(messageOf(error))}`;
    if (line !== last) log(line);
    last = line;
  };
}

/**
 * Closes BullMQ's worker (running jobs are being handed back), the result client and the pool, each bounded
 * in time. With Redis unreachable there is nothing to wait for: BullMQ's connections are dropped at once.
 */
async function shutDown(
  worker: { close(force?: boolean): Promise<void>; disconnect(): Promise<void> },
  client: Parameters<typeof closeClient>[0],
  pool: ImportingPool,
  redisLost: boolean,
): Promise<void> {
  const closeWorker = async () => {
    if (!(await settlesWithin(worker.close(redisLost), redisLost ? 500 : CLOSE_MS))) await settlesWithin(worker.disconnect(), 500);
  };
  await Promise.all([closeWorker(), settlesWithin(pool.destroy(), CLOSE_MS)]);
  await closeClient(client);
}
