import { resolve } from 'node:path';
import { absoluteSource, type DataSourceOptions, loadDataSource } from '../data/data-source.js';
import { LogitTable } from '../data/logit-table.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { checkEncoding, describeEncoding, readSoftLabels, softLabelEncoding, writeSoftLabels } from '../data/soft-label-store.js';
import { DistillCancelledError, DistillError, check, messageOf } from '../errors.js';
import { INFER_BATCH } from '../infer/logits.js';
import type { ProgressEvent } from '../progress.js';
import { openLabellingTeacher } from '../teachers/open-teacher.js';
import { datasetDigest, softLabelKey } from '../teachers/fingerprint.js';
import type { DistillOptions } from '../options/options.js';
import { type KeysOfGroups, type LibraryKeys, type SameKeys, resolveOptions } from '../options/resolve.js';
import type { QueueSettings } from '../options/schema.js';
import { JOB_NAME, JOB_PROTOCOL, type LabelJob, connectQueue, loadQueueModules, parseQueueUrl, resultKey } from './queue-connection.js';

/** Everything {@link labelOnQueue} takes: the teacher, labelling and queue groups, and the coordinator's own. */
export interface QueueLabelOptions
  extends Partial<Pick<DistillOptions, 'teacherNormalize' | 'teacherLayout' | 'teacherOutput' | 'teacherRuntime'>>,
    Partial<QueueSettings> {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME (see parseQueueUrl). */
  queue: string;
  /** The data, by name: every worker loads it from the same paths. */
  data: DataSourceOptions;
  /** The teacher's model.json (or its folder), at the same path on every worker. */
  teacher: string;
  /** The soft-label store to write (reused when it already holds these labels). */
  softLabels: string;
  softLabelTopK?: number | null;
  /** The temperature of a top-k store. Default 4. */
  temperature?: number;
  /** Rows per job, a multiple of the 256-row inference batch. Default {@link DEFAULT_JOB_ROWS}. */
  jobRows?: number;
  /** How often a job may fail (a worker throws, or stalls) before the run stops. Default 3. */
  attempts?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** The option groups the coordinator resolves, and its own options. */
const QUEUE_LABEL_SCOPE = {
  groups: ['teacher', 'labelling', 'queue'],
  own: ['queue', 'data', 'jobRows', 'attempts', 'onProgress', 'signal'],
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
 * inference; this size keeps that overhead small for the built-in architectures (see the README's
 * "Scaling out") while leaving enough jobs to spread over many machines.
 */
export const DEFAULT_JOB_ROWS = 4096;

/** How often the coordinator looks at every unfinished job, in case it missed an event. */
const SWEEP_MS = 2000;
/** With no job finished after this long, the coordinator says that it waits for workers. */
const NO_WORKER_NOTICE_MS = 15_000;

/**
 * Labels on a BullMQ queue: the coordinator queues one job per range of rows, workers anywhere
 * (`tfjs-distill worker`) label them, and the coordinator gathers their logits into the store. Job ids
 * are derived from the teacher, the data and the rows, so a coordinator restarted with the same options
 * finds the jobs already queued or done and reuses them. A job that fails for good stops the run, naming
 * its rows and the reason.
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
  const onProgress = options.onProgress ?? (() => {});
  const { bullmq, Redis } = await loadQueueModules();

  const dataSpec = { ...options.data, source: absoluteSource(options.data.source) };
  const { train: dataset } = await loadDataSource(dataSpec);
  const train = SharedDataset.fromDataset(dataset, 'train');
  const teacherPath = resolve(options.teacher);
  const teacher = await openLabellingTeacher(teacherPath, train, { ...config, teacherEpochs: 0 });
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
  };
  const ranges: [number, number][] = [];
  for (let start = 0; start < train.rows; start += jobRows) ranges.push([start, Math.min(start + jobRows, train.rows)]);
  // BullMQ ids may not be integers or hold ':'; these name the teacher, the data and the rows.
  const idOf = ([start, end]: [number, number]) => `label-${key}-${start}-${end}`;
  const rangeOf = new Map(ranges.map((range) => [idOf(range), range]));
  // A job that throws is retried after a pause; one that fails every attempt stops the run.
  const jobOptions = (range: [number, number]) => ({ jobId: idOf(range), attempts, backoff: { type: 'fixed', delay: 1000 } });

  const client = await connectQueue(Redis, address);
  const queue = new bullmq.Queue<LabelJob>(address.name, { connection: address.connection });
  const events = new bullmq.QueueEvents(address.name, { connection: address.connection });
  // Connection blips: ioredis reconnects, and a lasting loss surfaces in collect().
  queue.on('error', () => {});
  events.on('error', () => {});
  const started = performance.now();
  try {
    await events.waitUntilReady();
    // Jobs a previous coordinator queued stay; those that failed get another chance.
    let jobsReused = 0;
    await forEachBatch([...rangeOf.keys()], async (id) => {
      const existing = await queue.getJob(id);
      const state = existing && (await existing.getState());
      if (state === 'completed') jobsReused++;
      if (state === 'failed') await existing!.retry('failed');
    });
    await queue.addBulk(
      ranges.map((range) => ({ name: JOB_NAME, data: { ...job, start: range[0], end: range[1] }, opts: jobOptions(range) })),
    );
    if (jobsReused > 0) {
      onProgress({
        phase: 'label',
        done: 0,
        total: train.rows,
        samplesPerSec: 0,
        notice: `${jobsReused} of ${ranges.length} jobs were already done`,
      });
    }

    await collect();
    check(table.allFinite(), 'the teacher produced non-finite logits (NaN or Infinity); check the teacher model and the data');
    const labelSeconds = (performance.now() - started) / 1000;
    const fileBytes = await writeSoftLabels(options.softLabels, table, { key, encoding, labelSeconds });
    // The store holds everything now: free Redis of the jobs and their logits.
    await forEachBatch([...rangeOf.keys()], async (id) => {
      await (await queue.getJob(id))?.remove();
      await client.del(resultKey(address.name, id));
    });
    return result(false, ranges.length, jobsReused, labelSeconds, fileBytes);
  } finally {
    await Promise.allSettled([queue.close(), events.close(), client.quit()]);
  }

  /** Waits for every job, copying each one's logits into the table as it completes. */
  async function collect(): Promise<void> {
    const pending = new Set(rangeOf.keys());
    let done = 0;
    let fail!: (error: unknown) => void;
    let finish!: () => void;
    const finished = new Promise<void>((resolveAll, reject) => {
      finish = resolveAll;
      fail = reject;
    });
    const checking = new Set<string>();
    const settle = async (id: string) => {
      if (!pending.has(id) || checking.has(id)) return;
      checking.add(id);
      try {
        const state = await queue.getJobState(id);
        if (state === 'completed') {
          const [start, end] = rangeOf.get(id)!;
          const bytes = await client.getBuffer(resultKey(address.name, id));
          const expected = (end - start) * train.numClasses * 4;
          if (!bytes || bytes.byteLength !== expected) {
            // Completed, but the logits are gone (expired, deleted): label the rows again.
            await (await queue.getJob(id))?.remove();
            await queue.add(JOB_NAME, { ...job, start, end }, jobOptions([start, end]));
            return;
          }
          table.values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + expected)), start * train.numClasses);
          pending.delete(id);
          done += end - start;
          const samplesPerSec = done / ((performance.now() - started) / 1000);
          onProgress({ phase: 'label', done, total: train.rows, samplesPerSec });
          if (pending.size === 0) finish();
        } else if (state === 'unknown') {
          // Removed under us (another coordinator of the same run finished first, or the queue was emptied):
          // queue the rows again rather than wait for a job that no longer exists.
          const [start, end] = rangeOf.get(id)!;
          await queue.add(JOB_NAME, { ...job, start, end }, jobOptions([start, end]));
        } else if (state === 'failed') {
          const failed = await queue.getJob(id);
          const [start, end] = rangeOf.get(id)!;
          const tries = failed ? ` after ${failed.attemptsMade} attempt${failed.attemptsMade === 1 ? '' : 's'}` : '';
          fail(new DistillError(`the job for rows ${start}-${end - 1} failed${tries}: ${failed?.failedReason ?? 'no reason recorded'}`));
        }
      } catch (error) {
        fail(new DistillError(`lost the connection to ${address.shown}: ${messageOf(error)}`));
      } finally {
        checking.delete(id);
      }
    };
    events.on('completed', ({ jobId }) => void settle(jobId));
    events.on('failed', ({ jobId }) => void settle(jobId));
    const sweep = () => forEachBatch([...pending], settle);
    const timer = setInterval(() => void sweep(), SWEEP_MS);
    const waiting = setTimeout(() => {
      if (done > 0) return;
      const notice = `no job has finished yet: waiting for workers (tfjs-distill worker --queue ${address.shown})`;
      onProgress({ phase: 'label', done: 0, total: train.rows, samplesPerSec: 0, notice });
    }, NO_WORKER_NOTICE_MS);
    const onAbort = () => fail(new DistillCancelledError('cancelled while the workers labelled; the queued jobs stay for the next run'));
    options.signal?.addEventListener('abort', onAbort);
    try {
      await sweep();
      if (pending.size === 0) finish();
      await finished;
    } finally {
      clearInterval(timer);
      clearTimeout(waiting);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Jobs looked at or cleaned up at once: round trips overlap, without flooding Redis with one burst per job. */
const BATCH = 64;

async function forEachBatch<T>(items: T[], use: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(use));
}
