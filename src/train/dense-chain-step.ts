// A plain dense student's forward and backward pass without tfjs's tape (models/dense-chain.ts recognises
// the student): each layer's forward pass reads its weights straight from the shared weights into an output
// buffer reused from step to step, tfjs computes only the loss and its gradient on the logits [rows, classes],
// and each layer's backward pass writes its weights' gradients straight into this rank's exchange slot. No
// tensor is made for the layers, nothing is copied into the slot, and the replica's variables are loaded from
// the shared weights only when something reads the model (ShardUpdate.syncModel).
import tf from '../tf.cjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import type { DenseChainLoops, DenseLayerView } from '../kernels/dense-chain-loops.js';
import { float32Values } from '../kernels/wasm-heap.js';
import type { DenseChain } from '../models/dense-chain.js';
import { FUSED_BOUND } from '../parallel/allreduce.js';
import { augmentRows } from './augment.js';
import { type LossInputs, type LossSpec, meanLoss } from './losses.js';
import type { TrainTask } from './replica.js';
import type { BatchTargets, GradientPass } from './replica-step.js';

/** Where a weight's values start in the flat weights (and gradient) of `variables`; throws for one not among them. */
export function weightOffsets(variables: tf.Variable[]): (weight: tf.LayerVariable) => number {
  const offsets = new Map<tf.Variable, number>();
  for (let i = 0, offset = 0; i < variables.length; offset += variables[i++].size) offsets.set(variables[i], offset);
  return (weight) => {
    const offset = offsets.get(weight.read() as tf.Variable);
    if (offset === undefined) throw new Error(`fused pass: weight ${weight.name} is not among the trained variables`);
    return offset;
  };
}

/** Where each chain layer's kernel and bias lie in the flat weights (and gradient) of `variables`. */
export function denseLayerViews(chain: DenseChain, variables: tf.Variable[]): DenseLayerView[] {
  const offsetOf = weightOffsets(variables);
  return chain.layers.map(({ kernel, bias, inWidth, units, relu }) => ({
    inWidth,
    units,
    relu,
    kernelOffset: offsetOf(kernel),
    biasOffset: bias ? offsetOf(bias) : -1,
  }));
}

/** The chain's weights: each layer's kernel, then its bias when it has one. */
export function chainWeights(chain: DenseChain): tf.LayerVariable[] {
  return chain.layers.flatMap(({ kernel, bias }) => (bias ? [kernel, bias] : [kernel]));
}

/** Whether `weights` are every one of `variables` and no other, so that a pass over them writes the whole gradient. */
export function weightsAreVariables(weights: tf.LayerVariable[], variables: tf.Variable[]): boolean {
  const read = new Set(weights.map((w) => w.read()));
  return read.size === variables.length && variables.every((v) => read.has(v));
}

/** Whether the chain's weights are every one of `variables`, so that the pass writes the whole gradient. */
export function chainCoversVariables(chain: DenseChain, variables: tf.Variable[]): boolean {
  return weightsAreVariables(chainWeights(chain), variables);
}

/** The outputs of a chain's layers and the gradients of its hidden outputs, for up to `maxRows` rows, reused from step to step. */
export class DenseChainBuffers {
  readonly outputs: Float32Array[];
  /** The gradients of the hidden layers' outputs, alternately (a layer reads one and writes the other). */
  readonly dHidden: Float32Array[];
  readonly dLogits: Float32Array;

  constructor(layers: DenseLayerView[], maxRows: number) {
    this.outputs = layers.map(({ units }) => new Float32Array(maxRows * units));
    const widest = Math.max(...layers.map(({ units }) => units));
    this.dHidden = [new Float32Array(maxRows * widest), new Float32Array(maxRows * widest)];
    this.dLogits = new Float32Array(maxRows * layers[layers.length - 1].units);
  }
}

/**
 * The slice's logits' loss and its gradient: from the logits [n, classes] it writes the gradient into
 * `dLogits` and returns the mean loss.
 */
export type LogitsLoss = (logits: Float32Array, dLogits: Float32Array) => number;

/**
 * One forward and backward pass of a chain (its layers' views in `layers`) over `n` input rows: the weights
 * read from `weights`, every weight's gradient written into `grad` at the weights' offsets, and the input
 * rows' gradient into `dRows` when given. Returns the loss, and whether it and every gradient value are
 * within FUSED_BOUND.
 */
export function denseChainGradient(
  layers: DenseLayerView[],
  loops: DenseChainLoops,
  buffers: DenseChainBuffers,
  rows: Float32Array,
  n: number,
  weights: Float32Array,
  grad: Float32Array,
  lossOf: LogitsLoss,
  dRows?: Float32Array,
): { loss: number; bounded: boolean } {
  const { outputs, dHidden, dLogits } = buffers;
  const inputOf = (i: number) => (i === 0 ? rows : outputs[i - 1]);
  layers.forEach((layer, i) => loops.forward(layer, inputOf(i), n, weights, outputs[i]));
  const top = layers.length - 1;
  const logits = outputs[top].subarray(0, n * layers[top].units);
  const loss = lossOf(logits, dLogits);
  if (layers[top].relu) for (let i = 0; i < logits.length; i++) if (logits[i] <= 0) dLogits[i] = 0; // NaN keeps its gradient
  let bounded = Math.abs(loss) <= FUSED_BOUND;
  let dOut = dLogits;
  for (let i = top; i >= 0; i--) {
    const dInput = i > 0 ? dHidden[i % 2] : (dRows ?? null); // the input rows' gradient, only when asked for
    const reluInput = i > 0 && layers[i - 1].relu;
    bounded = loops.backward(layers[i], inputOf(i), n, weights, dOut, grad, dInput, reluInput, FUSED_BOUND) && bounded;
    if (dInput) dOut = dInput;
  }
  return { loss, bounded };
}

/**
 * Builds the pass of a model made of `chain`, whose weights are all of `variables`: it reads them from the
 * shared weights (task.optimizer.weights) and writes what the stock pass writes into `slot`: the flat
 * gradient, then the slice's mean loss.
 */
export function denseChainPass(
  task: TrainTask,
  chain: DenseChain,
  loops: DenseChainLoops,
  data: SharedDataset,
  variables: tf.Variable[],
  slot: Float32Array,
  targets: BatchTargets,
): GradientPass {
  const weights = new Float32Array(task.optimizer.weights);
  const layers = denseLayerViews(chain, variables);
  const maxRows = task.plan.maxRowsPerRank;
  const features = new Float32Array(maxRows * chain.inputWidth);
  const buffers = new DenseChainBuffers(layers, maxRows);
  const classes = layers[layers.length - 1].units;
  return (batch, start, end, step) => {
    const rows = data.gatherFeatures(batch, start, end, features);
    if (task.augment) augmentRows(rows, batch, start, end, data.featureShape, task.augment, task.seed, step);
    const lossOf = sliceLoss(task, targets, classes, batch, start, end);
    const { loss, bounded } = denseChainGradient(layers, loops, buffers, rows, end - start, weights, slot, lossOf);
    slot[slot.length - 1] = loss;
    return bounded;
  };
}

/** The loss of the slice [start, end) of `batch` against its targets, as a {@link LogitsLoss}. */
export function sliceLoss(
  task: TrainTask,
  targets: BatchTargets,
  classes: number,
  batch: Int32Array,
  start: number,
  end: number,
): LogitsLoss {
  return (logits, dLogits) =>
    tf.tidy(() => {
      const { labels, teacher } = targets(batch, start, end);
      return logitsLoss(task.loss, logits, classes, dLogits, { labels, teacher });
    });
}

/**
 * The mean loss `spec` gives the logits [rows, classes] against the targets, its gradient with respect to the
 * logits written into `dLogits`; tfjs computes it, on the logits alone. Call it inside a tidy.
 */
export function logitsLoss(
  spec: LossSpec,
  logitValues: Float32Array,
  classes: number,
  dLogits: Float32Array,
  targets: Omit<LossInputs, 'student'>,
): number {
  const logits = tf.tensor2d(logitValues, [logitValues.length / classes, classes]);
  const { value, grads } = tf.engine().gradients(() => meanLoss(spec, { ...targets, student: logits }), [logits], undefined, true);
  if (grads[0]) dLogits.set(float32Values(grads[0]));
  else dLogits.fill(0, 0, logitValues.length); // the loss does not depend on the logits
  return value.dataSync()[0];
}
