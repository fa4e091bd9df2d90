// The two halves of a replica's step around the gradient exchange: its forward and backward pass, and its
// share of the update of the shared weights.
import * as tf from '@tensorflow/tfjs';
import { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { copyTensorInto } from '../kernels/wasm-heap.js';
import { augmentRows } from './augment.js';
import { meanLoss } from './losses.js';
import { learningRateAt } from './lr-schedule.js';
import { ShardedOptimizer } from './optimizers.js';
import type { TrainTask } from './replica.js';

/**
 * A forward and backward pass over rows [start, end) of a global batch, at step `step` (for augmentation):
 * it writes the flat gradient, then the slice's mean loss, into `slot` (this rank's slot of the exchange).
 */
export type GradientPass = (batch: Int32Array, start: number, end: number, step: number, slot: Float32Array) => void;

/** Builds this rank's forward and backward pass. */
export function gradientPass(
  task: TrainTask,
  model: tf.LayersModel,
  data: SharedDataset,
  inputShape: number[],
  variables: tf.Variable[],
): GradientPass {
  const softLabels = task.softLabels && LogitTable.attach(task.softLabels);
  // Reused gather buffers, sized for the largest slice.
  const maxRows = task.plan.maxRowsPerRank;
  const features = new Float32Array(maxRows * data.rowSize);
  const labels = new Int32Array(maxRows);
  const teacherLogits = new Float32Array(maxRows * data.numClasses);
  return (batch, start, end, step, slot) =>
    tf.tidy(() => {
      const n = end - start;
      const rows = data.gatherFeatures(batch, start, end, features);
      if (task.augment) augmentRows(rows, batch, start, end, data.featureShape, task.augment, task.seed, step);
      const x = tf.tensor(rows, [n, ...inputShape]);
      const y = tf.tensor1d(data.gatherLabels(batch, start, end, labels), 'int32');
      const teacher = softLabels && tf.tensor2d(softLabels.gather(batch, start, end, teacherLogits), [n, data.numClasses]);
      const { value, grads } = tf.variableGrads(
        () => meanLoss(task.loss, { student: model.apply(x, { training: true }) as tf.Tensor2D, teacher, labels: y }),
        variables,
      );
      let offset = 0;
      for (const variable of variables) {
        const grad = grads[variable.name]; // absent when the loss does not depend on the variable
        if (grad) copyTensorInto(grad, slot, offset);
        else slot.fill(0, offset, offset + variable.size);
        offset += variable.size;
      }
      slot[slot.length - 1] = value.dataSync()[0];
    });
}

const squaredSum = (values: Float32Array, lo: number, hi: number) => {
  let sum = 0;
  for (let i = lo; i < hi; i++) sum += values[i] * values[i];
  return sum;
};

/**
 * Scales the averaged gradient so that its global L2 norm is at most `maxNorm`. Each rank sums the squares
 * of its own chunk; after a barrier every rank adds the W sums in rank order, so all get the same norm, and
 * scales its own chunk (which only it reads from here on). A replicated update (`replicated`, which holds the
 * whole mean) sums the W chunks itself in the same order, with no barrier: the same norm.
 */
function clipGradient(
  mean: Float32Array,
  [lo, hi]: [number, number],
  chunks: [number, number][],
  rank: number,
  norms: Float64Array,
  maxNorm: number,
  waitForAll: (() => void) | 'replicated',
): void {
  if (waitForAll === 'replicated') chunks.forEach(([from, to], r) => (norms[r] = squaredSum(mean, from, to)));
  else {
    norms[rank] = squaredSum(mean, lo, hi);
    waitForAll();
  }
  let total = 0;
  for (let r = 0; r < norms.length; r++) total += norms[r];
  const norm = Math.sqrt(total);
  if (norm <= maxNorm) return;
  const scale = maxNorm / norm;
  for (let i = lo; i < hi; i++) mean[i] *= scale;
}

/**
 * This rank's side of the optimizer. Sharded: it applies the mean gradient to its chunk of the shared weights,
 * then, once every rank has, loads all the shared weights into the replica's variables. Replicated (small
 * models, see {@link TrainTask.exchange}): it applies the whole mean gradient to its own copy of the weights
 * and optimizer state, the same element-wise arithmetic as every chunk, so no rank waits for another.
 */
export class ShardUpdate {
  readonly optimizer: ShardedOptimizer;
  /** Optimizer updates so far, those of earlier sessions included. */
  iterations: number;
  private readonly chunk: [number, number];
  /** Every rank's chunk, in rank order: the partial sums of the gradient norm. */
  private readonly chunks: [number, number][];
  /** One float64 per rank: its share of the squared gradient norm, when clipping. */
  private readonly norms: Float64Array;
  private readonly copies: boolean;
  private readonly replicated: boolean;

  /** Rank 0 also publishes its replica's initial weights as the shared ones (each rank its own, replicated). */
  constructor(
    private readonly task: TrainTask,
    private readonly variables: tf.Variable[],
    chunks: [number, number][],
    private readonly waitForAll: () => void,
  ) {
    this.replicated = task.exchange === 'replicated';
    const shared = ShardedOptimizer.attach(task.optimizer);
    this.optimizer = this.replicated ? ownCopy(shared) : shared;
    const { length } = shared.handle;
    // The loss, last in the exchanged vector, is not a weight.
    this.chunks = chunks.map(([lo, hi]) => [Math.min(lo, length), Math.min(hi, length)]);
    this.chunk = this.replicated ? [0, length] : this.chunks[task.rank];
    this.iterations = task.resume?.iterations ?? 0;
    // The wasm backend copies a tensor's values into its heap when it is made; other backends may keep the
    // array itself, and the shared weights change at the next step, so they get a copy. The variables get
    // new tensors rather than new values in place: the wasm backend caches XNNPACK's packed weights by tensor.
    this.copies = tf.getBackend() !== 'wasm';
    this.norms = this.replicated ? new Float64Array(chunks.length) : new Float64Array(task.norms);
    if (task.rank === 0 || this.replicated) {
      let offset = 0;
      for (const variable of variables) {
        copyTensorInto(variable, this.optimizer.weights, offset);
        offset += variable.size;
      }
    }
  }

  /** Clips, decays and applies the mean gradient of step `step`, then reloads the weights; returns the learning rate. */
  apply(mean: Float32Array, step: number): number {
    const { rules, rank, plan } = this.task;
    const [lo, hi] = this.chunk;
    const lr = learningRateAt(rules.lrSchedule, this.optimizer.handle.spec.learningRate, step, plan.steps);
    if (rules.clipNorm !== null) {
      clipGradient(mean, this.chunk, this.chunks, rank, this.norms, rules.clipNorm, this.replicated ? 'replicated' : this.waitForAll);
    }
    if (rules.weightDecay > 0) this.optimizer.decay(lo, hi, lr, rules.weightDecay);
    this.optimizer.update(mean, lo, hi, ++this.iterations, lr);
    if (!this.replicated) this.waitForAll(); // every chunk is updated
    this.loadSharedWeights();
    return lr;
  }

  /** Copies the shared weights (replicated: this rank's own) into this replica's variables. */
  private loadSharedWeights(): void {
    tf.tidy(() => {
      let offset = 0;
      for (const variable of this.variables) {
        const values = this.optimizer.weights.subarray(offset, offset + variable.size);
        variable.assign(tf.tensor(this.copies ? values.slice() : values, variable.shape));
        offset += variable.size;
      }
    });
  }
}

/** A private optimizer with `shared`'s state (a resumed phase's moments), for a replicated update. */
function ownCopy(shared: ShardedOptimizer): ShardedOptimizer {
  const own = ShardedOptimizer.create(shared.handle.spec, shared.handle.length);
  new Float32Array(own.handle.slots).set(new Float32Array(shared.handle.slots));
  return own;
}
