import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { absoluteSource, type DataSourceOptions, loadDataSource, teacherSplits } from '../data/data-source.js';
import { LogitTable } from '../data/logit-table.js';
import { SharedDataset } from '../data/shared-dataset.js';
import {
  type SoftLabelEncoding,
  checkEncoding,
  describeEncoding,
  readSoftLabels,
  softLabelEncoding,
  writeSoftLabels,
} from '../data/soft-label-store.js';
import { DistillCancelledError, type DistillError, check } from '../errors.js';
import { INFER_BATCH } from '../infer/logits.js';
import type { InputLayout, TeacherNormalize } from '../models/onnx-teacher.js';
import type { EnsembleCombination } from '../infer/predictor.js';
import type { TeacherRuntime } from '../options/options.js';
import { type KeysOfGroups, type LibraryKeys, type SameKeys, resolveKeys, resolveOptions } from '../options/resolve.js';
import type { ProgressEvent } from '../progress.js';
import { datasetDigest, softLabelKey } from '../teachers/fingerprint.js';
import { openLabellingTeacher } from '../teachers/open-teacher.js';
import { absoluteUnlessUrl } from '../url-or-path.js';
import { settlesWithin, watchConnection } from './connection-watch.js';
import { forEachBatch } from './job-watch.js';
import { type Coordination, type JobRange, collect } from './queue-collect.js';
import {
  JOB_NAME,
  JOB_PROTOCOL,
  type LabelJob,
  type QueueAddress,
  type QueueDataSource,
  type QueueTeacherSettings,
  closeClient,
  connectQueue,
  loadQueueModules,
  parseQueueUrl,
  resultKey,
} from './queue-connection.js';

/** Everything {@link labelOnQueue} takes: the teacher, labelling and queue groups, and the coordinator's own. */
export interface QueueLabelOptions {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME (see parseQueueUrl). */
  queue: string;
  /** The data, by name: every worker loads it from the same paths. */
  data: DataSourceOptions;
  /**
   * The teacher: a model.json (or its folder) or an .onnx file, at the same path on every worker; a list of
   * them is an ensemble, which every job carries whole (each worker runs every member on its rows).
   */
  teacher: string | readonly string[];
  /** As `label`'s: normalise the teacher's input, an ONNX teacher's layout and output, what runs a layers teacher. */
  teacherNormalize?: TeacherNormalize | null;
  teacherLayout?: InputLayout | null;
  teacherOutput?: string | null;
  teacherRuntime?: TeacherRuntime;
  /** As `label`'s: how an ensemble combines its teachers. Default 'logits'. */
  ensemble?: EnsembleCombination;
  /** Modules every worker imports first (custom layers), at the same path on every worker. */
  workerImports?: string[];
  /** The soft-label store to write (reused when it already holds these labels). */
  softLabels: string;
  softLabelTopK?: number | null;
  /** The temperature of a top-k store. Default 4. */
  temperature?: number;
  /** Rows per job, a multiple of the 256-row inference batch. Default {@link DEFAULT_JOB_ROWS}. */
  jobRows?: number;
  /** How often a job may fail (a worker throws, or stalls) before the run stops. Default 3. */
  attempts?: number;
  /** Seconds without Redis before the run stops with an error; 0 waits for ever. Default {@link DEFAULT_QUEUE_TIMEOUT_SECONDS}. */
  queueTimeoutSeconds?: number;
  /** Called with progress as the jobs' results come in. */
  onProgress?: (event: ProgressEvent) => void;
  /** Aborting it stops within a few seconds; the jobs done so far stay in Redis for the next run. */
  signal?: AbortSignal;
}

/** The option groups the coordinator resolves, and its own options. */
const QUEUE_LABEL_SCOPE = {
  groups: ['teacher', 'labelling', 'queue'],
  own: ['queue', 'data', 'workerImports', 'jobRows', 'attempts', 'onProgress', 'signal'],
} as const;
// QueueLabelOptions names exactly the options of QUEUE_LABEL_SCOPE (this fails to compile otherwise).
type QueueLabelKeys =
  | (KeysOfGroups<(typeof QUEUE_LABEL_SCOPE)['groups'][number]> & LibraryKeys)
  | (typeof QUEUE_LABEL_SCOPE)['own'][number];
const QUEUE_OPTIONS_MATCH: SameKeys<keyof QueueLabelOptions, QueueLabelKeys> = true;
void QUEUE_OPTIONS_MATCH;

/** What {@link labelOnQueue} did. */
export interface QueueLabelResult {
  file: string;
  rows: number;
  /** True when the store already held these labels and nothing was queued. */
  reused: boolean;
  key: string;
  encoding: string;
  jobs: number;
  /** Jobs a previous coordinator had queued and the workers had finished. */
  jobsReused: number;
  /** Wall time from queueing the jobs to the last result. */
  labelSeconds: number;
  fileBytes: number;
}

/**
 * Rows per queued job. Each job costs a few Redis round trips and a result upload on top of its
 * inference; this size keeps that overhead small for the built-in architectures (see
 * docs/distributed-labelling.md, "What the queue costs") while leaving enough jobs to spread over many machines.
 */
export const DEFAULT_JOB_ROWS = 4096;

/** The data with every file it names made absolute, so that a worker in another folder reads the same files. */
export function absoluteData({ workers, onImageProgress, ...data }: DataSourceOptions): QueueDataSource {
  return {
    ...data,
    source: absoluteSource(data.source),
    ...(data.testSource !== undefined && { testSource: absoluteSource(data.testSource) }),
    ...(data.tokenizer !== undefined && { tokenizer: resolve(data.tokenizer) }),
  };
}

/** How long each connection may take to close before it is dropped (Redis may be gone). */
const CLOSE_MS = 1500;

/**
 * Labels on a BullMQ queue: the coordinator queues one job per range of rows, workers anywhere
 * (`tfjs-distill worker`) label them, and the coordinator gathers their logits into the store. Job ids
 * are derived from the teacher, the data, the teacher settings and the rows, so a coordinator restarted
 * with the same options finds the jobs already queued or done and reuses them. A job that fails for good
 * stops the run, naming its rows and the reason. While Redis is unreachable the coordinator says so
 * (once, then a reminder every 10 s) and waits, up to `queueTimeoutSeconds`.
 */
export async function labelOnQueue(options: QueueLabelOptions): Promise<QueueLabelResult> {
  const config = resolveOptions(options, QUEUE_LABEL_SCOPE);
  const address = parseQueueUrl(options.queue);
  const jobRows = options.jobRows ?? DEFAULT_JOB_ROWS;
  check(
    Number.isInteger(jobRows) && jobRows >= INFER_BATCH && jobRows % INFER_BATCH === 0,
    `jobRows must be a multiple of ${INFER_BATCH} (the inference batch), got ${jobRows}`,
    ['jobRows'],
  );
  const attempts = options.attempts ?? 3;
  check(Number.isInteger(attempts) && attempts >= 1, `attempts must be an integer >= 1, got ${attempts}`, ['attempts']);
  const timeoutSeconds = config.queueTimeoutSeconds;
  const { teacherNormalize, teacherLayout, teacherOutput, teacherRuntime, ensemble, temperature } = config;
  const teacherSettings: QueueTeacherSettings = { teacherNormalize, teacherLayout, teacherOutput, teacherRuntime, ensemble, temperature };
  const { workerImports: imports } = resolveKeys(options as unknown as Record<string, unknown>, ['workerImports']) as {
    workerImports: string[];
  };
  const workerImports = imports.map((module) => absoluteUnlessUrl(module));
  const modules = await loadQueueModules();

  const dataSpec = absoluteData(options.data);
  // A teacher given as a file labels the rows as it was trained on them (a table's raw values).
  const { train: dataset } = teacherSplits(await loadDataSource(dataSpec));
  const train = SharedDataset.fromDataset(dataset, 'train');
  const teacherPath = typeof options.teacher === 'string' ? resolve(options.teacher) : options.teacher.map((path) => resolve(path));
  const teacher = await openLabellingTeacher(teacherPath, train, { ...teacherSettings, teacherEpochs: 0 });
  const encoding = softLabelEncoding(config);
  checkEncoding(encoding, train.numClasses);
  const key = softLabelKey(teacher.digest, dataset);
  const table = LogitTable.create(train.rows, train.numClasses);
  const result = (reused: boolean, jobs: number, jobsReused: number, labelSeconds: number, fileBytes: number): QueueLabelResult => ({
    file: options.softLabels,
    rows: train.rows,
    reused,
    key,
    encoding: describeEncoding(encoding),
    jobs,
    jobsReused,
    labelSeconds,
    fileBytes,
  });
  const stored = await readSoftLabels(options.softLabels, table, key, encoding);
  if (stored.ok) return result(true, 0, 0, stored.labelSeconds, stored.fileBytes);

  const job: Omit<LabelJob, 'start' | 'end'> = {
    protocol: JOB_PROTOCOL,
    data: dataSpec,
    dataKey: datasetDigest(dataset),
    teacher: teacherPath,
    teacherKey: teacher.digest,
    teacherSettings,
    workerImports,
  };
  // BullMQ ids may not be integers or hold ':'; these name the teacher, the data, how the jobs run, and the rows.
  const settingsKey = createHash('sha256')
    .update(JSON.stringify([JOB_PROTOCOL, teacherSettings, workerImports]))
    .digest('hex')
    .slice(0, 8);
  const ranges = new Map<string, JobRange>();
  for (let start = 0; start < train.rows; start += jobRows) {
    const end = Math.min(start + jobRows, train.rows);
    ranges.set(`label-${key}-${settingsKey}-${start}-${end}`, [start, end]);
  }
  const done = await runOnQueue({ ...options, timeoutSeconds, attempts, address, modules, job, ranges, table, key, encoding });
  return result(false, ranges.size, done.jobsReused, done.labelSeconds, done.fileBytes);
}

/** What {@link runOnQueue} needs: the options, and what labelOnQueue made of them. */
interface QueueRun extends QueueLabelOptions {
  timeoutSeconds: number;
  attempts: number;
  address: QueueAddress;
  modules: Awaited<ReturnType<typeof loadQueueModules>>;
  job: Omit<LabelJob, 'start' | 'end'>;
  ranges: Map<string, JobRange>;
  table: LogitTable;
  key: string;
  encoding: SoftLabelEncoding;
}

/**
 * Connects, watches the connection, and runs the coordination until it ends, Redis stays unreachable for
 * the timeout, or `signal` aborts; then closes every connection, within seconds even when Redis is gone.
 */
async function runOnQueue(run: QueueRun) {
  const { address, modules, ranges, table, job, attempts, onProgress = () => {} } = run;
  const client = await connectQueue(modules.Redis, address);
  const queue = new modules.bullmq.Queue<LabelJob>(address.name, { connection: address.connection });
  const events = new modules.bullmq.QueueEvents(address.name, { connection: address.connection });
  // Connection losses are reported once by the watch below, not once per retry by each connection.
  queue.on('error', () => {});
  events.on('error', () => {});
  const coordination: Coordination = {
    address,
    queue,
    events,
    client,
    ranges,
    table,
    progress: { done: 0, total: table.rows, started: performance.now() },
    onProgress,
    // A job that throws is retried after a pause; one that fails every attempt stops the run.
    jobOf: (id) => {
      const [start, end] = ranges.get(id)!;
      return { name: JOB_NAME, data: { ...job, start, end }, opts: { jobId: id, attempts, backoff: { type: 'fixed', delay: 1000 } } };
    },
  };
  let halt!: (error: DistillError) => void;
  const halted = new Promise<never>((_, reject) => (halt = reject));
  halted.catch(() => {}); // raced below; a halt that comes too late to matter is no error
  const watch = watchConnection(client, {
    shown: address.shown,
    timeoutSeconds: run.timeoutSeconds,
    say: (notice) => onProgress({ ...progressOf(coordination), notice }),
    onState: (lostSeconds) =>
      onProgress({
        ...progressOf(coordination),
        waitingFor: lostSeconds === null ? undefined : `${address.shown} (unreachable for ${Math.round(lostSeconds)} s)`,
      }),
    onGiveUp: halt,
  });
  const onAbort = () => halt(new DistillCancelledError('stopped while the workers labelled; the jobs done so far stay for the next run'));
  run.signal?.addEventListener('abort', onAbort);
  if (run.signal?.aborted) onAbort();
  try {
    const work = coordinate(coordination, { key: run.key, encoding: run.encoding, file: run.softLabels });
    work.catch(() => {}); // after a halt, its pending commands fail as the connections close
    return await Promise.race([work, halted]);
  } finally {
    run.signal?.removeEventListener('abort', onAbort);
    // With Redis unreachable, a polite close would only wait: drop the connections at once.
    const closeMs = watch.lostSince === null ? CLOSE_MS : 0;
    watch.stop();
    const closing = async (connection: { close(): Promise<void>; disconnect(): Promise<void> }) => {
      if (closeMs === 0 || !(await settlesWithin(connection.close(), closeMs))) await settlesWithin(connection.disconnect(), 500);
    };
    await Promise.all([closing(queue), closing(events), closeClient(client)]);
  }
}

/** The coordinator's progress as an event (for notices and state changes between results). */
function progressOf({ progress }: Coordination): ProgressEvent {
  const seconds = (performance.now() - progress.started) / 1000;
  return { phase: 'label', done: progress.done, total: progress.total, samplesPerSec: seconds > 0 ? progress.done / seconds : 0 };
}

/** Queues the jobs (reusing those a previous coordinator queued), gathers their logits, writes the store, frees Redis. */
async function coordinate(coordination: Coordination, store: { key: string; encoding: SoftLabelEncoding; file: string }) {
  const { queue, events, client, ranges, table, address } = coordination;
  await events.waitUntilReady();
  coordination.progress.started = performance.now();
  // Jobs a previous coordinator queued stay; those that failed get another chance.
  let jobsReused = 0;
  await forEachBatch([...ranges.keys()], async (id) => {
    const existing = await queue.getJob(id);
    const state = existing && (await existing.getState());
    if (state === 'completed') jobsReused++;
    if (state === 'failed') await existing!.retry('failed');
  });
  await queue.addBulk([...ranges.keys()].map((id) => coordination.jobOf(id)));
  if (jobsReused > 0)
    coordination.onProgress({ ...progressOf(coordination), notice: `${jobsReused} of ${ranges.size} jobs were already done` });

  await collect(coordination);
  check(table.allFinite(), 'the teacher produced non-finite logits (NaN or Infinity); check the teacher model and the data');
  const labelSeconds = (performance.now() - coordination.progress.started) / 1000;
  const fileBytes = await writeSoftLabels(store.file, table, { key: store.key, encoding: store.encoding, labelSeconds });
  // The store holds everything now: free Redis of the jobs and their logits.
  await forEachBatch([...ranges.keys()], async (id) => {
    await (await queue.getJob(id))?.remove();
    await client.del(resultKey(address.name, id));
  });
  return { jobsReused, labelSeconds, fileBytes };
}
