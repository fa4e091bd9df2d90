import * as tf from '@tensorflow/tfjs';
import { LogitTable, type LogitTableHandle } from '../data/logit-table.js';
import { SharedDataset, type SharedDatasetHandle } from '../data/shared-dataset.js';
import { type SharedModelHandle, modelFromShared } from '../models/model-data.js';
import { modelInputShape } from '../models/model-shape.js';

/** Loads a model into this thread's cache (see preloadModel), so that timing the inference excludes loading it. */
export interface LoadTask {
  kind: 'load';
  model: SharedModelHandle;
}

/** Computes the logits of rows [start, end) of a shared dataset into the same rows of a shared table. */
export interface InferTask {
  kind: 'infer';
  model: SharedModelHandle;
  data: SharedDatasetHandle;
  table: LogitTableHandle;
  start: number;
  end: number;
  batchSize: number;
}

/** Times single-thread inference on rows of a shared dataset, at each batch size. */
export interface LatencyTask {
  kind: 'latency';
  model: SharedModelHandle;
  data: SharedDatasetHandle;
  batchSizes: number[];
}

/** Milliseconds per sample at each batch size of a LatencyTask, in order. */
export type LatencyResult = number[];

// The few models a run infers with (teacher, student, baseline) stay loaded in each thread.
const CACHE_SIZE = 3;
const cache = new Map<string, Promise<tf.LayersModel>>();

function cachedModel(handle: SharedModelHandle): Promise<tf.LayersModel> {
  let model = cache.get(handle.id);
  if (!model) {
    model = modelFromShared(handle);
    cache.set(handle.id, model);
    if (cache.size > CACHE_SIZE) {
      const [oldest, evicted] = cache.entries().next().value!;
      cache.delete(oldest);
      evicted.then(
        (m) => m.dispose(),
        () => {},
      );
    }
  }
  return model;
}

export async function preloadModel(task: LoadTask): Promise<void> {
  await cachedModel(task.model);
}

/**
 * The model's output for the whole of `x` in one pass. Not predict(): it cuts its input into batches of
 * 32 (slicing copies each), which ran a 1.86 M-parameter model at half the GFLOP/s of one 256-row pass.
 */
function logitsOf(model: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  return model.apply(x, { training: false }) as tf.Tensor;
}

export async function inferRows(task: InferTask): Promise<number> {
  const model = await cachedModel(task.model);
  const data = SharedDataset.attach(task.data);
  const table = LogitTable.attach(task.table);
  const inputShape = modelInputShape(model, 'model');
  const features = data.features;
  for (let start = task.start; start < task.end; start += task.batchSize) {
    const end = Math.min(start + task.batchSize, task.end);
    const logits = tf.tidy(() => {
      // Consecutive rows are contiguous in shared memory: a view, no gather.
      const x = tf.tensor(features.subarray(start * data.rowSize, end * data.rowSize), [end - start, ...inputShape]);
      return logitsOf(model, x).dataSync() as Float32Array;
    });
    table.writeRows(start, logits);
  }
  return task.end - task.start;
}

/** Median wall time per call, per sample, after warm-up; at least `minCalls` calls and about `budgetMs`. */
export async function measureLatency(task: LatencyTask): Promise<LatencyResult> {
  const model = await cachedModel(task.model);
  const data = SharedDataset.attach(task.data);
  const inputShape = modelInputShape(model, 'model');
  return task.batchSizes.map((batchSize) => {
    const rows = Math.min(batchSize, data.rows);
    const x = tf.tensor(data.features.slice(0, rows * data.rowSize), [rows, ...inputShape]);
    const call = () => tf.tidy(() => logitsOf(model, x).dataSync());
    for (let i = 0; i < 3; i++) call();
    const times: number[] = [];
    const budgetMs = 300;
    const begin = performance.now();
    while (times.length < 5 || (performance.now() - begin < budgetMs && times.length < 1000)) {
      const t0 = performance.now();
      call();
      times.push(performance.now() - t0);
    }
    x.dispose();
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)] / rows;
  });
}
