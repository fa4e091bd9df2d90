import { loadDataSource } from '../data/data-source.js';
import { LogitTable } from '../data/logit-table.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { DistillError, WorkerFailure, check, messageOf } from '../errors.js';
import { computeLogits } from '../infer/logits.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { InferenceModel } from '../infer/predictor.js';
import { NO_TEACHER_SETTINGS, openLabellingTeacher } from '../teachers/open-teacher.js';
import { datasetDigest } from '../teachers/fingerprint.js';
import { type KeysOfGroups, type LibraryKeys, type SameKeys, resolveOptions } from '../options/resolve.js';
import type { QueueSettings } from '../options/schema.js';
import {
  JOB_NAME,
  JOB_PROTOCOL,
  type LabelJob,
  connectQueue,
  loadQueueModules,
  parseQueueUrl,
  redactUrl,
  RESULT_TTL_SECONDS,
  resultKey,
} from './queue-connection.js';
import { TfjsPool } from '../pool/tfjs-pool.js';

/** How long a dead worker's job waits before another worker takes it, by default (LabelWorkerOptions.stallSeconds). */
export const DEFAULT_STALL_SECONDS = 30;

/** Everything {@link serveLabelQueue} takes: the runtime and queue groups, and the worker's own. */
export interface LabelWorkerOptions extends Partial<QueueSettings> {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME (see parseQueueUrl). */
  queue: string;
  /** Worker threads; the process takes as many jobs at once. Default: the machine's available parallelism. */
  workers?: number;
  backend?: BackendChoice;
  kernels?: KernelChoice;
  workerImports?: string[];
  workerMemoryMb?: number | null;
  barrierTimeoutMs?: number;
  /**
   * How long a job may go without its worker renewing its lock before another worker takes it over (a
   * worker killed mid-job leaves its job stalled that long). Default 30.
   */
  stallSeconds?: number;
  /** One line per event worth a log line (ready, each job, refusals); never shows a secret. */
  onLog?: (line: string) => void;
  /** Aborting it stops taking jobs, finishes the running ones and returns. */
  signal?: AbortSignal;
}

/** The option groups a labelling worker resolves, those of their options it does not use, and its own. */
const LABEL_WORKER_SCOPE = {
  groups: ['runtime', 'queue'],
  omit: ['threadsPerWorker', 'maxRestarts', 'onProgress'],
  own: ['queue', 'stallSeconds', 'onLog'],
} as const;
// LabelWorkerOptions names exactly the options of LABEL_WORKER_SCOPE (this fails to compile otherwise).
type LabelWorkerKeys =
  | Exclude<KeysOfGroups<(typeof LABEL_WORKER_SCOPE)['groups'][number]> & LibraryKeys, (typeof LABEL_WORKER_SCOPE)['omit'][number]>
  | (typeof LABEL_WORKER_SCOPE)['own'][number];
const WORKER_OPTIONS_MATCH: SameKeys<keyof LabelWorkerOptions, LabelWorkerKeys> = true;
void WORKER_OPTIONS_MATCH;

/** The data and teacher a job names, loaded once per process (jobs of one run all name the same). */
interface Inputs {
  shared: SharedDataset;
  dataKey: string;
  teacherKey: string;
  teacher: InferenceModel;
  /** Every job writes its rows here; rows of concurrent jobs never overlap. */
  table: LogitTable;
}

/**
 * A labelling worker: takes jobs from the queue, loads the data and teacher they name (once), checks them
 * against the hashes the coordinator computed, labels the rows on a local pool of worker threads and
 * leaves the logits in Redis as raw float32 bytes for the coordinator. A job whose data or teacher hashes
 * differ from what this machine loads from the same paths is refused, the job fails for good (the
 * coordinator stops, naming it), and the worker stops: it could label nothing of this run. Returns when
 * `signal` aborts, or rejects with the refusal.
 */
export async function serveLabelQueue(options: LabelWorkerOptions): Promise<{ jobs: number }> {
  const address = parseQueueUrl(options.queue);
  const stallSeconds = options.stallSeconds ?? DEFAULT_STALL_SECONDS;
  check(Number.isFinite(stallSeconds) && stallSeconds >= 1, `stallSeconds must be a number >= 1, got ${stallSeconds}`, ['stallSeconds']);
  const config = resolveOptions(options, LABEL_WORKER_SCOPE);
  const log = options.onLog ?? (() => {});
  const { bullmq, Redis } = await loadQueueModules();
  const client = await connectQueue(Redis, address);

  const { workers, backend, kernels, barrierTimeoutMs, workerImports } = config;
  const poolOptions = { workers, backend, kernels, barrierTimeoutMs, workerImports, workerMemoryMb: config.workerMemoryMb ?? undefined };
  let pool: Promise<TfjsPool> | undefined = TfjsPool.startTfjs(poolOptions);
  const inputs = new Map<string, Promise<Inputs>>();
  let jobs = 0;
  let refusal: DistillError | undefined;
  let stop!: () => void;
  const stopped = new Promise<void>((resolveStop) => (stop = resolveStop));

  const load = async (job: LabelJob): Promise<Inputs> => {
    const { train } = await loadDataSource(job.data);
    const shared = SharedDataset.fromDataset(train, 'train');
    const teacher = await openLabellingTeacher(job.teacher, shared, NO_TEACHER_SETTINGS);
    return {
      shared,
      dataKey: datasetDigest(train),
      teacherKey: teacher.digest,
      teacher: teacher.model,
      table: LogitTable.create(shared.rows, shared.numClasses),
    };
  };

  const label = async (job: { id?: string; data: LabelJob; attemptsMade: number }) => {
    const spec = job.data;
    const rows = `rows ${spec.start}-${spec.end - 1}`;
    if (spec.protocol !== JOB_PROTOCOL) {
      throw refuse(
        `${rows}: the job is of protocol ${spec.protocol}, this worker speaks ${JOB_PROTOCOL}; run the same tfjs-distill version`,
      );
    }
    log(`${rows}: started (attempt ${job.attemptsMade + 1})`);
    const started = performance.now();
    const cacheKey = JSON.stringify([spec.data, spec.teacher]);
    let loading = inputs.get(cacheKey);
    if (!loading) {
      loading = load(spec);
      inputs.set(cacheKey, loading);
      loading.catch(() => inputs.delete(cacheKey)); // a file that appears later may load next time
    }
    const loaded = await loading;
    if (loaded.dataKey !== spec.dataKey) {
      throw refuse(
        `${rows}: the data ${spec.data.source} here hashes to ${loaded.dataKey}, the coordinator's to ${spec.dataKey}; ` +
          'give every machine the same data files',
      );
    }
    if (loaded.teacherKey !== spec.teacherKey) {
      throw refuse(
        `${rows}: the teacher ${spec.teacher} here hashes to ${loaded.teacherKey}, the coordinator's to ${spec.teacherKey}; ` +
          'give every machine the same teacher',
      );
    }
    let run: Awaited<ReturnType<typeof computeLogits>>;
    try {
      pool ??= TfjsPool.startTfjs(poolOptions);
      run = await computeLogits(await pool, loaded.teacher, loaded.shared, {
        phase: 'label',
        rows: [spec.start, spec.end],
        table: loaded.table,
        onProgress: () => {},
      });
    } catch (error) {
      // A failed thread took the pool down: the next job starts a fresh one, and BullMQ retries this one.
      if (error instanceof WorkerFailure) pool = undefined;
      if (error instanceof WorkerFailure && !error.retryable) throw new bullmq.UnrecoverableError(`${rows}: ${error.message}`);
      throw new Error(`${rows}: ${messageOf(error)}`);
    }
    const classes = loaded.shared.numClasses;
    const values = run.table.values.subarray(spec.start * classes, spec.end * classes);
    if (!values.every(Number.isFinite)) {
      throw new bullmq.UnrecoverableError(`${rows}: the teacher produced non-finite logits (NaN or Infinity)`);
    }
    // A copy: the table lives in shared memory that later jobs write to.
    const bytes = Buffer.from(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    await client.set(resultKey(address.name, job.id!), bytes, 'EX', RESULT_TTL_SECONDS);
    jobs++;
    const seconds = (performance.now() - started) / 1000;
    log(`${rows}: done in ${seconds.toFixed(2)} s (${Math.round((spec.end - spec.start) / seconds)} rows/s)`);
    return { rows: spec.end - spec.start, seconds };
  };

  /** Refuses the job for good and stops this worker: every other job of the run names the same inputs. */
  const refuse = (message: string) => {
    refusal ??= new DistillError(`refused a job: ${message}`);
    log(`refused: ${message}`);
    setImmediate(stop);
    return new bullmq.UnrecoverableError(`refused by a worker: ${message}`);
  };

  const worker = new bullmq.Worker<LabelJob>(address.name, (job) => (job.name === JOB_NAME ? label(job) : Promise.resolve(null)), {
    connection: address.connection,
    concurrency: workers,
    lockDuration: stallSeconds * 1000,
    stalledInterval: stallSeconds * 1000,
    // A job whose workers keep dying is more likely a job that kills workers: after two recoveries, fail it.
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on('error', (error) => log(`queue error: ${redactUrl(messageOf(error))}`));
  const onAbort = () => stop();
  options.signal?.addEventListener('abort', onAbort);
  try {
    const ready = await pool;
    log(`ready: ${ready.workers} worker thread${ready.workers === 1 ? '' : 's'} (${ready.backend}) on ${address.shown}`);
    void worker.run();
    if (!options.signal?.aborted) await stopped;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await worker.close();
    await Promise.allSettled([client.quit(), pool?.then((p) => p.destroy())]);
  }
  if (refusal) throw refusal;
  return { jobs };
}
