import type { SharedDataset } from '../data/shared-dataset.js';
import { type ClassificationScores, classificationScores } from './class-scores.js';
import { type ModelData, serializedBytes } from '../models/model-data.js';
import type { WorkerPool } from '../parallel/pool.js';
import type { InferTask, LatencyResult, LatencyTask, LoadTask } from './inference-task.js';
import { computeLogits, type LogitsOptions } from './logits.js';
import type { InferenceModel } from './predictor.js';

/** How one model did on the test split (per class too), and what it costs. */
export interface ModelReport extends ClassificationScores {
  /** Top-1 accuracy on the test split, in [0, 1]. */
  accuracy: number;
  /** Number of weights (trainable and not). */
  params: number;
  /** Serialized size: model.json plus weights.bin, in bytes. */
  bytes: number;
  /** Milliseconds per sample at batch size 1, on one worker thread of the run's backend. */
  latencyMsBatch1: number;
  /** Milliseconds per sample at batch size 256, likewise. */
  latencyMsBatch256: number;
}

/** Fraction of rows whose prediction equals the label. */
export function accuracy(predictions: Int32Array, labels: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hits++;
  return hits / labels.length;
}

/** Fraction of rows on which two models predict the same class. */
export function agreement(a: Int32Array, b: Int32Array): number {
  return accuracy(a, b);
}

/** Number of weights a layers model stores. */
export function paramCount(data: ModelData): number {
  return data.weightSpecs.reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
}

/** A model's test predictions, with the time spent. */
export interface Predictions {
  predictions: Int32Array;
  seconds: number;
  setupSeconds: number;
}

/** Runs a model over the test rows in the pool and returns its top-1 predictions. */
export async function predictTest(
  pool: WorkerPool<LoadTask | InferTask | LatencyTask>,
  model: InferenceModel,
  test: SharedDataset,
  options: Omit<LogitsOptions, 'phase'>,
): Promise<Predictions> {
  const { table, seconds, setupSeconds } = await computeLogits(pool, model, test, { ...options, phase: 'evaluate' });
  return { predictions: table.argmax(), seconds, setupSeconds };
}

/** The size of a layers model, as {@link describeModel} reports it. */
export function layersModelSize(data: ModelData): { params: number; bytes: number } {
  return { params: paramCount(data), bytes: serializedBytes(data) };
}

/** Milliseconds per sample of `model` at batch 1 and 256, on one thread of the pool, on rows of `test`. */
export function modelLatency(pool: WorkerPool<LatencyTask>, model: InferenceModel, test: SharedDataset): Promise<LatencyResult> {
  return pool.run<LatencyResult>({ kind: 'latency', model, data: test.handle, batchSizes: [1, 256] });
}

/** Latency at batch 1 and 256 (one thread; measured here unless given), size and accuracy of a model. */
export async function describeModel(
  pool: WorkerPool<LoadTask | InferTask | LatencyTask>,
  model: InferenceModel,
  size: { params: number; bytes: number },
  test: SharedDataset,
  predictions: Int32Array,
  latency?: LatencyResult,
): Promise<ModelReport> {
  const [batch1, batch256] = latency ?? (await modelLatency(pool, model, test));
  return {
    accuracy: accuracy(predictions, test.labels),
    ...classificationScores(predictions, test.labels, test.numClasses),
    params: size.params,
    bytes: size.bytes,
    latencyMsBatch1: batch1,
    latencyMsBatch256: batch256,
  };
}
