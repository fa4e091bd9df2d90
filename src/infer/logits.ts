import { setMaxListeners } from 'node:events';
import { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { DistillCancelledError } from '../errors.js';
import type { WorkerPool } from '../parallel/pool.js';
import type { InferTask, LoadTask } from './inference-task.js';
import type { InferenceModel } from './predictor.js';
import type { Phase, ProgressEvent } from '../progress.js';
import { trace } from '../trace.js';

/**
 * Rows per forward pass. Batches start at multiples of it from row 0 whatever the chunks are, so every
 * row is computed in the same batch, and gets the same bits, for any worker count, shard or queued job.
 */
export const INFER_BATCH = 256;
/** The most batches in one task: small enough for smooth progress and prompt cancellation. */
const MAX_CHUNK_BATCHES = 4;

/**
 * Cuts `rows` rows into tasks of whole inference batches, largest first and shrinking towards the end
 * (guided self-scheduling: each chunk is about 1/(2W) of what remains), so the W threads, which take
 * tasks in order as they free up, finish within about one batch of each other (equal chunks would leave
 * up to a whole chunk on one thread at the end). Returns [start, end) row ranges in order.
 */
export function planChunks(rows: number, workers: number, batchSize = INFER_BATCH): [number, number][] {
  const chunks: [number, number][] = [];
  const totalBatches = Math.ceil(rows / batchSize);
  for (let batch = 0; batch < totalBatches; ) {
    const size = Math.min(MAX_CHUNK_BATCHES, Math.max(1, Math.ceil((totalBatches - batch) / (2 * workers))));
    chunks.push([batch * batchSize, Math.min((batch + size) * batchSize, rows)]);
    batch += size;
  }
  return chunks;
}

export interface LogitsRun {
  table: LogitTable;
  /** Wall time of the inference itself. */
  seconds: number;
  /** Wall time of loading the model into every thread. */
  setupSeconds: number;
}

export interface LogitsOptions {
  phase: Extract<Phase, 'label' | 'evaluate'>;
  onProgress: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /**
   * Only rows [start, end), in whole batches (end may be the last row), so that every batch holds the rows
   * it holds in a whole run and gets the same bits: a shard or a queued job. Default: every row.
   */
  rows?: [number, number];
  /** Write into this table (the dataset's size; rows outside the range are left alone). Default: a new one. */
  table?: LogitTable;
}

/**
 * Runs a model over every row of a shared dataset in the pool and gathers its logits in place, in row
 * order: rows are cut into chunks of whole batches (see {@link planChunks}), each chunk a task that
 * writes straight into the shared table.
 * With the teacher over the training rows this is the labelling step that produces the soft labels.
 */
export async function computeLogits(
  pool: WorkerPool<LoadTask | InferTask>,
  model: InferenceModel,
  data: SharedDataset,
  options: LogitsOptions,
): Promise<LogitsRun> {
  const setupStart = performance.now();
  trace('logits load begin');
  await pool.runOnEveryRank(() => ({ task: { kind: 'load', model } }), { barriers: [] });
  trace('logits load end');
  const setupSeconds = (performance.now() - setupStart) / 1000;

  const table = options.table ?? LogitTable.create(data.rows, data.numClasses);
  const [first, last] = options.rows ?? [0, data.rows];
  if (first % INFER_BATCH !== 0 || (last % INFER_BATCH !== 0 && last !== data.rows) || first > last || last > data.rows) {
    throw new Error(`rows [${first}, ${last}) of ${data.rows}: a range must be whole batches of ${INFER_BATCH} rows`);
  }
  const abort = new AbortController();
  setMaxListeners(Number.POSITIVE_INFINITY, abort.signal); // one listener per queued chunk task
  const onCancel = () => abort.abort();
  options.signal?.addEventListener('abort', onCancel);
  const started = performance.now();
  let done = 0;
  try {
    const chunks: Promise<void>[] = [];
    for (const [start, end] of planChunks(last - first, pool.workers)) {
      const task = {
        kind: 'infer',
        model,
        data: data.handle,
        table: table.handle,
        start: first + start,
        end: first + end,
        batchSize: INFER_BATCH,
      } as const;
      chunks.push(
        pool.run<number>(task, abort.signal).then((rows) => {
          done += rows;
          const samplesPerSec = done / ((performance.now() - started) / 1000);
          options.onProgress({ phase: options.phase, done, total: last - first, samplesPerSec });
        }),
      );
    }
    await Promise.all(chunks).catch((error) => {
      abort.abort(); // drop the queued chunks
      throw options.signal?.aborted ? new DistillCancelledError(`cancelled during ${options.phase}`) : error;
    });
  } finally {
    options.signal?.removeEventListener('abort', onCancel);
  }
  trace('logits infer end');
  return { table, seconds: (performance.now() - started) / 1000, setupSeconds };
}
