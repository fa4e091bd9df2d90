/**
 * The thread latency measurements run in: stock tfjs of its own, on the backend asked for, with none of
 * the run's kernels registered. The main thread's backend is never switched, so a sweep's other trials
 * keep building models on it while one trial's student is timed. The thread stays for the next request.
 */
import tf from '../tf.cjs';
import { parentPort } from 'node:worker_threads';
import { messageOf } from '../errors.js';
import { median, warmUntilSteady } from '../steady-timing.js';
import type { LatencyMeasurement } from './latency.js';
import { loadWithStockTfjs, type StockArtifacts } from './variant-check.js';
import { readAndDispose } from '../tensor-values.js';

/** What the measuring thread is given: the model, float32 rows ready to predict, and how to time them. */
export interface LatencyWorkerData {
  artifacts: StockArtifacts;
  /** Rows of `rowShape`, already scaled as a run feeds them. */
  rows: Float32Array;
  rowShape: number[];
  backend: string;
  repeats: { batch1: number; batch256: number };
}

/** A request: a measurement, or `warm`, to load that backend ahead of the first measurement. */
export type LatencyWorkerRequest = LatencyWorkerData | { warm: string };

/** The measuring thread's answer to one request. */
export type LatencyWorkerReply = { measurement: LatencyMeasurement } | { warmed: string } | { error: string };

/** `count` rows starting at row `first`, wrapping round the rows given. */
function rowsFrom(data: LatencyWorkerData, first: number, count: number): tf.Tensor {
  const size = data.rowShape.reduce((a, b) => a * b, 1);
  const rows = data.rows.length / size;
  const values = new Float32Array(count * size);
  for (let i = 0; i < count; i++) {
    const row = (first + i) % rows;
    values.set(data.rows.subarray(row * size, (row + 1) * size), i * size);
  }
  return tf.tensor(values, [count, ...data.rowShape]);
}

/** Milliseconds of one prediction of `batch` rows from row `first` (making the input is not timed). */
function timePrediction(model: tf.LayersModel, data: LatencyWorkerData, batch: number, first: number): number {
  const input = rowsFrom(data, first, batch);
  try {
    const start = performance.now();
    readAndDispose(tf.tidy(() => model.predict(input) as tf.Tensor));
    return performance.now() - start;
  } finally {
    input.dispose();
  }
}

/** Median milliseconds of `repeats` predictions of `batch` rows, once the thread is warm (see warmUntilSteady). */
async function timePredictions(model: tf.LayersModel, data: LatencyWorkerData, batch: number, repeats: number): Promise<number> {
  await warmUntilSteady(() => timePrediction(model, data, batch, 0));
  const times = Array.from({ length: repeats }, (_, i) => timePrediction(model, data, batch, i * batch));
  return median(times);
}

/** Loads `backend` and makes it this thread's. */
async function useBackend(backend: string): Promise<void> {
  try {
    if (backend === 'wasm') await import('../tf-backend-wasm.cjs');
    if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
    await tf.ready();
  } catch (error) {
    throw new Error(`cannot measure latency on the ${backend} backend: ${messageOf(error)}`);
  }
}

async function measure(data: LatencyWorkerData): Promise<LatencyMeasurement> {
  await useBackend(data.backend);
  // The thread is kept for the next measurement, so nothing of this one may stay on its heap.
  const model = await loadWithStockTfjs(data.artifacts, 'the student');
  try {
    const batch1Ms = await timePredictions(model, data, 1, data.repeats.batch1);
    const batch256Ms = await timePredictions(model, data, 256, data.repeats.batch256);
    return { backend: tf.getBackend(), batch1Ms, batch256Ms, batch256RowsPerSec: (256 * 1000) / batch256Ms, repeats: data.repeats };
  } finally {
    model.dispose();
  }
}

// One measurement at a time, in the order asked: two would time each other.
let queue: Promise<unknown> = Promise.resolve();
parentPort?.on('message', ({ id, data }: { id: number; data: LatencyWorkerRequest }) => {
  const answer = async () => {
    let reply: LatencyWorkerReply;
    try {
      if ('warm' in data) {
        await useBackend(data.warm);
        reply = { warmed: data.warm };
      } else {
        reply = { measurement: await measure(data) };
      }
    } catch (error) {
      reply = { error: messageOf(error) };
    }
    parentPort?.postMessage({ id, reply });
  };
  // A request that fails to answer must not fail the ones after it.
  queue = queue.then(answer).catch(() => {});
});
