import type { FeatureArray } from '../data/dataset.js';
import { DistillError } from '../errors.js';
import type { GraphTeacherSpec } from '../models/graph-teacher.js';
import type { SharedModelHandle } from '../models/model-data.js';
import { type OnnxTeacherSpec, type OrtSession, type TeacherNormalize, loadOrt } from '../models/onnx-teacher.js';
import { bucketInputs, textBuckets } from './onnx-text-rows.js';
import { prepareRows } from './prepare-rows.js';

/** Normalisation of a model's input rows, per channel (the last axis of an image row; 1 channel otherwise). */
export interface RowNormalization extends TeacherNormalize {
  channels: number;
}

/**
 * A model the workers run inference with: a tfjs layers model, an ONNX file run by onnxruntime-node, a
 * graph model, or an ensemble of such models whose outputs are combined row by row.
 */
export type InferenceModel = (
  | { kind: 'layers'; id: string; model: SharedModelHandle }
  | OnnxTeacherSpec
  | GraphTeacherSpec
  | EnsembleInferenceSpec
) & {
  /** Applied to the rows before the model sees them (teacherNormalize). */
  normalize?: RowNormalization;
};

/** How an ensemble combines its members' outputs: the mean of their logits, or of their probabilities at a temperature. */
export type EnsembleCombination = 'logits' | 'probabilities';
/** Every value `ensemble` takes, for its check and the CLI's help. */
export const ENSEMBLE_COMBINATIONS: readonly EnsembleCombination[] = ['logits', 'probabilities'];

/** Several models run on the same rows, their outputs combined (see {@link combineMembers}). */
export interface EnsembleInferenceSpec {
  kind: 'ensemble';
  id: string;
  members: InferenceModel[];
  combine: EnsembleCombination;
  /** The temperature of the probabilities averaged (combine 'probabilities'). */
  temperature: number;
  numClasses: number;
}

/** A layers model shared with the workers, as an {@link InferenceModel}. */
export function layersInference(model: SharedModelHandle, normalize?: RowNormalization): InferenceModel {
  return { kind: 'layers', id: model.id, model, normalize };
}

/**
 * Runs a model on rows in this thread: `rows` rows of the data's row size in (float32, or a text dataset's
 * integer token ids), rows x classes logits out.
 */
export interface Predictor {
  logits(x: FeatureArray, rows: number): Promise<Float32Array>;
  dispose(): void;
}

// The few models a run infers with (teacher, student, baseline) stay loaded in each thread.
const CACHE_SIZE = 3;
const cache = new Map<string, Promise<Predictor>>();

/** Disposes every model this thread keeps loaded: a kept thread then starts its next run with none. */
export async function forgetPredictors(): Promise<void> {
  const predictors = [...cache.values()];
  cache.clear();
  for (const predictor of await Promise.allSettled(predictors)) if (predictor.status === 'fulfilled') predictor.value.dispose();
}

/** This thread's predictor for `model`, created on first use. */
export function predictorFor(model: InferenceModel): Promise<Predictor> {
  let predictor = cache.get(model.id);
  if (!predictor) {
    predictor = createPredictor(model);
    cache.set(model.id, predictor);
    if (cache.size > CACHE_SIZE) {
      const [oldest, evicted] = cache.entries().next().value!;
      cache.delete(oldest);
      evicted.then(
        (p) => p.dispose(),
        () => {},
      );
    }
  }
  return predictor;
}

/** Probabilities below this become this before the logarithm, so no logit is -Infinity. */
const MIN_PROBABILITY = 1e-30;

/**
 * Whether running `model` needs tfjs (a layers or graph model, or an ensemble with one): a pool that runs
 * only onnxruntime models starts without loading tfjs (TfjsPool's `loadTfjs: false`).
 */
export function usesTfjs(model: InferenceModel): boolean {
  return model.kind === 'ensemble' ? model.members.some(usesTfjs) : model.kind === 'layers' || model.kind === 'graph';
}

/** A new predictor for `model` (an ensemble's members are its own, outside the cache, disposed with it). */
async function createPredictor(model: InferenceModel): Promise<Predictor> {
  switch (model.kind) {
    case 'layers':
      return (await import('./tfjs-predictors.js')).layersPredictor(model.model, model.normalize);
    case 'graph':
      return (await import('./tfjs-predictors.js')).graphPredictor(model);
    case 'ensemble':
      return ensemblePredictor(model);
    default:
      return onnxPredictor(model);
  }
}

async function ensemblePredictor(spec: EnsembleInferenceSpec): Promise<Predictor> {
  const members = await Promise.all(spec.members.map(createPredictor));
  return {
    async logits(x, rows) {
      const outputs: Float32Array[] = [];
      // One member after another: each runs on the whole batch, as it would alone, so its bits are its own.
      for (const member of members) outputs.push(await member.logits(x, rows));
      return combineMembers(outputs, spec.numClasses, spec.combine, spec.temperature);
    },
    dispose: () => {
      for (const member of members) member.dispose();
    },
  };
}

/**
 * An ensemble's output from its members' logits (each rows x classes), summed in float64 in member order.
 * 'logits': their mean. 'probabilities': T log(mean of softmax(z / T)), so that softmax at T of the result
 * is the members' mean probability at T, which the distillation term then sees; its top class is the
 * class of highest mean probability.
 */
export function combineMembers(
  outputs: Float32Array[],
  numClasses: number,
  combine: EnsembleCombination,
  temperature: number,
): Float32Array {
  const out = new Float32Array(outputs[0].length);
  const sum = new Float64Array(numClasses);
  const count = outputs.length;
  for (let base = 0; base < out.length; base += numClasses) {
    sum.fill(0);
    for (const logits of outputs) {
      if (combine === 'logits') {
        for (let c = 0; c < numClasses; c++) sum[c] += logits[base + c];
        continue;
      }
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[base + c]);
      let total = 0;
      for (let c = 0; c < numClasses; c++) total += Math.exp((logits[base + c] - max) / temperature);
      for (let c = 0; c < numClasses; c++) sum[c] += Math.exp((logits[base + c] - max) / temperature) / total;
    }
    for (let c = 0; c < numClasses; c++) {
      const mean = sum[c] / count;
      out[base + c] = combine === 'logits' ? mean : temperature * Math.log(Math.max(mean, MIN_PROBABILITY));
    }
  }
  return out;
}

async function onnxPredictor(spec: OnnxTeacherSpec & { normalize?: RowNormalization }): Promise<Predictor> {
  const ort = await loadOrt();
  // One session per worker thread, on one thread: the pool is the parallelism.
  // An exported model's bytes are shared with every worker; onnxruntime needs its own ordinary copy.
  const session: OrtSession = await ort.InferenceSession.create(spec.model ? new Uint8Array(spec.model).slice() : spec.file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  /** The output's logits for `rows` rows, checked, probabilities turned into log-probabilities. */
  const run = async (feeds: Record<string, unknown>, rows: number) => {
    const output = (await session.run(feeds, [spec.outputName]))[spec.outputName];
    const logits = output.data;
    if (!(logits instanceof Float32Array) || logits.length !== rows * spec.numClasses) {
      throw new DistillError(
        `the ONNX teacher ${spec.file}'s output '${spec.outputName}' gave shape [${output.dims}] for ${rows} rows, ` +
          `not [${rows}, ${spec.numClasses}] of float32; give a teacher with one float score per class`,
      );
    }
    const floor = spec.probabilityFloor ?? MIN_PROBABILITY;
    if (spec.outputKind === 'softmax') for (let i = 0; i < logits.length; i++) logits[i] = Math.log(Math.max(logits[i], floor));
    return logits;
  };
  const channelsFirst = spec.toChannelsFirst ? spec.inputShape : undefined;
  const text = spec.text;
  return {
    async logits(x, rows) {
      if (text) {
        // Rows grouped by length, each group padded to its longest row; the logits go back to row order.
        const out = new Float32Array(rows * spec.numClasses);
        const { buckets, lengths } = textBuckets(x, rows, text);
        for (const bucket of buckets) {
          const inputs = bucketInputs(x, bucket, lengths, text);
          const feeds = Object.fromEntries(Object.entries(inputs).map(([name, v]) => [name, new ort.Tensor(v.type, v.data, v.dims)]));
          const logits = await run(feeds, bucket.rows.length);
          bucket.rows.forEach((row, index) =>
            out.set(logits.subarray(index * spec.numClasses, (index + 1) * spec.numClasses), row * spec.numClasses),
          );
        }
        return out;
      }
      let values = prepareRows(x, rows, spec.normalize, channelsFirst);
      // onnxruntime reads only ordinary memory: rows straight from the shared dataset need a copy.
      if (values.buffer instanceof SharedArrayBuffer) values = values.slice();
      const dims = [rows, ...spec.inputShape];
      const input =
        spec.inputType === 'float64' ? new ort.Tensor('float64', Float64Array.from(values), dims) : new ort.Tensor('float32', values, dims);
      return run({ [spec.inputName]: input }, rows);
    },
    dispose: () => void session.release(),
  };
}
