import { loadDataSource, teacherSplits } from '../data/data-source.js';
import { LogitTable } from '../data/logit-table.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { DistillError, WorkerFailure, messageOf } from '../errors.js';
import { computeLogits } from '../infer/logits.js';
import type { InferenceModel } from '../infer/predictor.js';
import { datasetDigest } from '../teachers/fingerprint.js';
import { openLabellingTeacher } from '../teachers/open-teacher.js';
import type { TeacherRuntimeUsed } from '../teachers/teacher-runtime.js';
import { JOB_PROTOCOL, type LabelJob } from './queue-connection.js';
import type { ImportingPool } from './worker-pool.js';

/** The data and teacher a job names, loaded once per process (jobs of one run all name the same). */
interface Inputs {
  shared: SharedDataset;
  dataKey: string;
  teacherKey: string;
  teacher: InferenceModel;
  runtime: TeacherRuntimeUsed;
  /** Every job writes its rows here; rows of concurrent jobs never overlap. */
  table: LogitTable;
}

/** What labelling one job needs from the worker around it. */
export interface JobLabellerContext {
  pool: ImportingPool;
  log: (line: string) => void;
  /** Aborted when the worker stops: a running job stops labelling and is handed back. */
  stopping: AbortSignal;
  /** A job names inputs this machine cannot label (other data or teacher, another protocol): stop the worker. */
  refuse: (message: string) => Error;
  /** A job that must fail for good, whatever its attempts left (BullMQ's UnrecoverableError). */
  unrecoverable: (message: string) => Error;
}

/** A job's logits, as raw float32 bytes (rows x classes, row-major), and how long they took. */
export interface LabelledJob {
  bytes: Buffer;
  rows: number;
  seconds: number;
}

/** A job of another protocol: which side is older, so the message says what to upgrade. */
export function protocolMismatch(protocol: unknown): string {
  const older = typeof protocol === 'number' && protocol < JOB_PROTOCOL ? 'an older' : 'a newer';
  return `the job is of protocol ${String(protocol)} (from ${older} tfjs-distill), this worker speaks ${JOB_PROTOCOL}; run the same tfjs-distill version on the coordinator and every worker`;
}

/**
 * Labels jobs on a worker: loads the data and teacher a job names (once per distinct job inputs), checks
 * them against the hashes the coordinator computed, and labels the job's rows on the pool.
 */
export function jobLabeller(context: JobLabellerContext): (job: LabelJob) => Promise<LabelledJob> {
  const inputs = new Map<string, Promise<Inputs>>();
  const { log } = context;

  const load = async (job: LabelJob): Promise<Inputs> => {
    const { train } = teacherSplits(await loadDataSource(job.data));
    const shared = SharedDataset.fromDataset(train, 'train');
    const teacher = await openLabellingTeacher(job.teacher, shared, { ...job.teacherSettings, teacherEpochs: 0 });
    const notices = teacher.notices.length > 0 ? `; ${teacher.notices.join('; ')}` : '';
    if (!context.stopping.aborted) log(`teacher ${[job.teacher].flat().join(' + ')} on ${teacher.runtime}${notices}`);
    return {
      shared,
      dataKey: datasetDigest(train),
      teacherKey: teacher.digest,
      teacher: teacher.model,
      runtime: teacher.runtime,
      table: LogitTable.create(shared.rows, shared.numClasses),
    };
  };

  const loaded = (job: LabelJob): Promise<Inputs> => {
    const cacheKey = JSON.stringify([job.data, job.teacher, job.teacherSettings, job.workerImports]);
    let loading = inputs.get(cacheKey);
    if (!loading) {
      loading = context.pool.use(job.workerImports, () => load(job));
      inputs.set(cacheKey, loading);
      loading.catch(() => inputs.delete(cacheKey)); // a file that appears later may load next time
    }
    return loading;
  };

  return async (job) => {
    const rows = `rows ${job.start}-${job.end - 1}`;
    if (job.protocol !== JOB_PROTOCOL) throw context.refuse(`${rows}: ${protocolMismatch(job.protocol)}`);
    const started = performance.now();
    const input = await loaded(job);
    if (input.dataKey !== job.dataKey) {
      throw context.refuse(
        `${rows}: the data ${job.data.source} here hashes to ${input.dataKey}, the coordinator's to ${job.dataKey}; ` +
          'give every machine the same data files',
      );
    }
    if (input.teacherKey !== job.teacherKey) {
      throw context.refuse(
        `${rows}: the teacher ${[job.teacher].flat().join(' + ')} here hashes to ${input.teacherKey}, the coordinator's to ${job.teacherKey}; ` +
          'give every machine the same teacher',
      );
    }
    const run = await context.pool
      .use(job.workerImports, (pool) =>
        computeLogits(pool, input.teacher, input.shared, {
          phase: 'label',
          rows: [job.start, job.end],
          table: input.table,
          onProgress: () => {},
          signal: context.stopping,
        }),
      )
      .catch((error: unknown) => {
        if (context.stopping.aborted) throw error;
        // A failed thread took the pool down: the next job starts a fresh one, and BullMQ retries this one.
        if (error instanceof WorkerFailure) context.pool.replace();
        if (error instanceof WorkerFailure && !error.retryable) throw context.unrecoverable(`${rows}: ${error.message}`);
        throw new Error(`${rows}: ${messageOf(error)}`);
      });
    const classes = input.shared.numClasses;
    const values = run.table.values.subarray(job.start * classes, job.end * classes);
    if (!values.every(Number.isFinite)) throw context.unrecoverable(`${rows}: the teacher produced non-finite logits (NaN or Infinity)`);
    // A copy: the table lives in shared memory that later jobs write to.
    const bytes = Buffer.from(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return { bytes, rows: job.end - job.start, seconds: (performance.now() - started) / 1000 };
  };
}

/** The refusal a worker stops with. */
export function refusalError(message: string): DistillError {
  return new DistillError(`refused a job: ${message}`);
}
