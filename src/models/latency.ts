// How long a shipped model takes to predict, as its user would see it in one thread: a saved model loaded
// with stock tfjs, one row at a time (an interactive page) and 256 rows at a time (a batch job), each
// prediction read back to JavaScript. The run measures its student this way on the test rows.
import * as tf from '@tensorflow/tfjs';
import { type Dataset, featureShape, holdsPixels, rowCount, rowSize } from '../data/dataset.js';
import { check, messageOf } from '../errors.js';
import type { StockArtifacts } from './variant-check.js';
import { loadWithStockTfjs } from './variant-check.js';

/** Batch-1 and batch-256 prediction times of a model, medians over repeats after a warm-up. */
export interface LatencyMeasurement {
  /** The tfjs backend that ran the predictions. */
  backend: string;
  /** Milliseconds to predict one row and read its output back. */
  batch1Ms: number;
  /** Milliseconds to predict 256 rows and read their outputs back. */
  batch256Ms: number;
  /** 256 rows over batch256Ms, in rows per second. */
  batch256RowsPerSec: number;
  /** Timed predictions at each batch size (after warming up). */
  repeats: { batch1: number; batch256: number };
}

/** Options of {@link measureLatency}. */
export interface LatencyOptions {
  /** The tfjs backend to measure on, switched to for the measurement and back after; default: stock `wasm`. */
  backend?: string;
  /** Timed single-row predictions; default 50. */
  batch1Repeats?: number;
  /** Timed 256-row predictions; default 5. */
  batch256Repeats?: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** `count` rows starting at row `first`, wrapping round the dataset, as float32 (uint8 pixels scaled by 1/255, as a run does). */
function rowsFrom(test: Dataset, first: number, count: number): tf.Tensor {
  const size = rowSize(test);
  const rows = rowCount(test);
  const values = new Float32Array(count * size);
  for (let i = 0; i < count; i++) {
    const row = (first + i) % rows;
    values.set(test.x.subarray(row * size, (row + 1) * size), i * size);
  }
  if (holdsPixels(test)) for (let i = 0; i < values.length; i++) values[i] /= 255;
  return tf.tensor(values, [count, ...featureShape(test)]);
}

/** Median milliseconds of `repeats` predictions of `batch` rows, after two untimed ones. */
function timePredictions(model: tf.LayersModel, test: Dataset, batch: number, repeats: number): number {
  const times: number[] = [];
  for (let i = -2; i < repeats; i++) {
    const input = rowsFrom(test, i < 0 ? 0 : i * batch, batch);
    const start = performance.now();
    tf.tidy(() => (model.predict(input) as tf.Tensor).dataSync());
    if (i >= 0) times.push(performance.now() - start);
    input.dispose();
  }
  return median(times);
}

/** Makes `backend` the current one (loading stock tfjs-backend-wasm for `wasm`); returns the one it replaced. */
async function switchBackend(backend: string): Promise<string> {
  const previous = tf.getBackend();
  if (backend === previous) return previous;
  try {
    if (backend === 'wasm' && !tf.findBackend('wasm')) await import('@tensorflow/tfjs-backend-wasm');
    check(await tf.setBackend(backend), `tf.setBackend('${backend}') returned false`);
    await tf.ready();
  } catch (error) {
    throw new Error(`cannot measure latency on the ${backend} backend: ${messageOf(error)}`);
  }
  return previous;
}

/**
 * Loads a saved model's artifacts with stock tfjs on `options.backend` and times its predictions on the test
 * rows (wrapping round when there are fewer than 256): batch 1 and batch 256, inputs built before the clock starts.
 */
export async function measureLatency(artifacts: StockArtifacts, test: Dataset, options: LatencyOptions = {}): Promise<LatencyMeasurement> {
  check(rowCount(test) > 0, 'there are no test rows to time the model on; give a test split with rows');
  const repeats = { batch1: options.batch1Repeats ?? 50, batch256: options.batch256Repeats ?? 5 };
  const previous = await switchBackend(options.backend ?? 'wasm');
  try {
    const model = await loadWithStockTfjs(artifacts, 'the student');
    try {
      const batch1Ms = timePredictions(model, test, 1, repeats.batch1);
      const batch256Ms = timePredictions(model, test, 256, repeats.batch256);
      return { backend: tf.getBackend(), batch1Ms, batch256Ms, batch256RowsPerSec: (256 * 1000) / batch256Ms, repeats };
    } finally {
      model.dispose();
    }
  } finally {
    await switchBackend(previous);
  }
}
