import { LogitTable, type LogitTableHandle } from '../data/logit-table.js';
import { SharedDataset, type SharedDatasetHandle } from '../data/shared-dataset.js';
import { warmUntilSteady } from '../steady-timing.js';
import { type InferenceModel, predictorFor } from './predictor.js';

/** Loads a model into this thread's cache (see preloadModel), so that timing the inference excludes loading it. */
export interface LoadTask {
  kind: 'load';
  model: InferenceModel;
}

/** Computes the logits of rows [start, end) of a shared dataset into the same rows of a shared table. */
export interface InferTask {
  kind: 'infer';
  model: InferenceModel;
  data: SharedDatasetHandle;
  table: LogitTableHandle;
  start: number;
  end: number;
  batchSize: number;
}

/** Times single-thread inference on rows of a shared dataset, at each batch size. */
export interface LatencyTask {
  kind: 'latency';
  model: InferenceModel;
  data: SharedDatasetHandle;
  batchSizes: number[];
}

/** Milliseconds per sample at each batch size of a LatencyTask, in order. */
export type LatencyResult = number[];

export async function preloadModel(task: LoadTask): Promise<void> {
  await predictorFor(task.model);
}

export async function inferRows(task: InferTask): Promise<number> {
  const predictor = await predictorFor(task.model);
  const data = SharedDataset.attach(task.data);
  const table = LogitTable.attach(task.table);
  const features = data.features;
  for (let start = task.start; start < task.end; start += task.batchSize) {
    const end = Math.min(start + task.batchSize, task.end);
    // Consecutive rows are contiguous in shared memory: a view, no gather (token ids stay integers here).
    table.writeRows(start, await predictor.logits(features.subarray(start * data.rowSize, end * data.rowSize), end - start));
  }
  return task.end - task.start;
}

/** Median wall time per call, per sample, once warm (see warmUntilSteady); at least 5 calls and about 300 ms per batch size. */
export async function measureLatency(task: LatencyTask): Promise<LatencyResult> {
  const predictor = await predictorFor(task.model);
  const data = SharedDataset.attach(task.data);
  const latencies: number[] = [];
  for (const batchSize of task.batchSizes) {
    const rows = Math.min(batchSize, data.rows);
    const x = data.features.slice(0, rows * data.rowSize);
    await warmUntilSteady(async () => {
      const start = performance.now();
      await predictor.logits(x, rows);
      return performance.now() - start;
    });
    const times: number[] = [];
    const budgetMs = 300;
    const begin = performance.now();
    while (times.length < 5 || (performance.now() - begin < budgetMs && times.length < 1000)) {
      const t0 = performance.now();
      await predictor.logits(x, rows);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    latencies.push(times[Math.floor(times.length / 2)] / rows);
  }
  return latencies;
}
