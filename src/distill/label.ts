import { setMaxListeners } from 'node:events';
import { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { DistillCancelledError } from '../errors.js';
import type { SharedModelHandle } from '../models/model-data.js';
import type { WorkerPool } from '../parallel/pool.js';
import type { Phase, ProgressEvent } from './progress.js';

/** Rows per task. Fixed (not derived from the worker count) so every row sees the same batches whatever W is. */
const CHUNK_ROWS = 1024;
/** Rows per forward pass inside a task. */
const INFER_BATCH = 256;

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
}

/**
 * Runs a model over every row of a shared dataset in the pool and gathers its logits in place, in row
 * order: rows are cut into fixed chunks, each chunk a task that writes straight into the shared table.
 * With the teacher over the training rows this is the labelling step that produces the soft labels.
 */
export async function computeLogits(
  pool: WorkerPool,
  model: SharedModelHandle,
  data: SharedDataset,
  options: LogitsOptions,
): Promise<LogitsRun> {
  const setupStart = performance.now();
  await pool.runOnEveryRank(() => ({ task: { kind: 'load', model } }), { barriers: [] });
  const setupSeconds = (performance.now() - setupStart) / 1000;

  const table = LogitTable.create(data.rows, data.numClasses);
  const abort = new AbortController();
  setMaxListeners(Number.POSITIVE_INFINITY, abort.signal); // one listener per queued chunk task
  const onCancel = () => abort.abort();
  options.signal?.addEventListener('abort', onCancel);
  const started = performance.now();
  let done = 0;
  try {
    const chunks: Promise<void>[] = [];
    for (let start = 0; start < data.rows; start += CHUNK_ROWS) {
      const end = Math.min(start + CHUNK_ROWS, data.rows);
      const task = { kind: 'infer', model, data: data.handle, table: table.handle, start, end, batchSize: INFER_BATCH } as const;
      chunks.push(
        pool.run<number>(task, abort.signal).then((rows) => {
          done += rows;
          const samplesPerSec = done / ((performance.now() - started) / 1000);
          options.onProgress({ phase: options.phase, done, total: data.rows, samplesPerSec });
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
  return { table, seconds: (performance.now() - started) / 1000, setupSeconds };
}
