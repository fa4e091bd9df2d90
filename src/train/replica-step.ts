// The two halves of a replica's step around the gradient exchange: its forward and backward pass, and its
// share of the update of the shared weights.
import tf from '../tf.cjs';
import { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { exchangeLoops } from '../kernels/exchange-loops.js';
import { copyTensorInto, tensorValues } from '../kernels/wasm-heap.js';
import type { TokenFront } from '../models/token-front.js';
import { augmentRows } from './augment.js';
import { meanLoss } from './losses.js';
import { learningRateAt } from './lr-schedule.js';
import { ShardedOptimizer } from './optimizers.js';
import { WeightReload } from './weight-reload.js';
import type { TrainTask } from './replica.js';
import { type ChunkUpdate, FUSED_BOUND } from '../parallel/allreduce.js';
import { tokenFrontPass } from './token-front-step.js';
import { denseChainPass } from './dense-chain-step.js';
import type { DenseChain } from '../models/dense-chain.js';
import type { DenseChainLoops } from '../kernels/dense-chain-loops.js';
import type { TokenConvStudentLoops } from '../kernels/token-conv-loops.js';
import type { TokenConv } from '../models/token-conv.js';
import { tokenConvPass } from './token-conv-step.js';

/**
 * A forward and backward pass over rows [start, end) of a global batch, at step `step` (for augmentation).
 * Returns whether every value it wrote is within FUSED_BOUND (SharedAllReduce.allReduceUpdate's `bounded`).
 */
export type GradientPass = (batch: Int32Array, start: number, end: number, step: number) => boolean;

/** The labels and teacher logits of rows [start, end) of a global batch, as tensors (in the caller's tidy). */
export type BatchTargets = (batch: Int32Array, start: number, end: number) => { labels: tf.Tensor1D; teacher?: tf.Tensor2D };

/** Gathers a slice's targets into buffers sized for the largest slice, reused from step to step. */
function batchTargets(task: TrainTask, data: SharedDataset): BatchTargets {
  const softLabels = task.softLabels && LogitTable.attach(task.softLabels);
  const maxRows = task.plan.maxRowsPerRank;
  const labels = new Int32Array(maxRows);
  const teacherLogits = new Float32Array(maxRows * data.numClasses);
  return (batch, start, end) => ({
    labels: tf.tensor1d(data.gatherLabels(batch, start, end, labels), 'int32'),
    teacher: softLabels && tf.tensor2d(softLabels.gather(batch, start, end, teacherLogits), [end - start, data.numClasses]),
  });
}

/**
 * Builds this rank's forward and backward pass: it writes the flat gradient, then the slice's mean loss, into
 * `slot` (this rank's slot of the gradient exchange). A cnn1d student with a `conv` (token-conv.ts) trains
 * without tfjs's tape on those loops (token-conv-step.ts), any other text student with a `front`
 * (token-front.ts, which recognises it) with that front fused (token-front-step.ts), a plain dense student with
 * its `chain` (dense-chain.ts) layer by layer on those loops (dense-chain-step.ts); any other model through
 * tfjs's autograd.
 */
export function gradientPass(
  task: TrainTask,
  model: tf.LayersModel,
  data: SharedDataset,
  inputShape: number[],
  variables: tf.Variable[],
  slot: Float32Array,
  front: TokenFront | undefined,
  chain?: { chain: DenseChain; loops: DenseChainLoops },
  conv?: { conv: TokenConv; loops: TokenConvStudentLoops },
): GradientPass {
  const targets = batchTargets(task, data);
  if (conv) return tokenConvPass(task, conv.conv, conv.loops, data, variables, slot, targets);
  if (front) return tokenFrontPass(task, front, data, variables, slot, targets);
  if (chain) return denseChainPass(task, chain.chain, chain.loops, data, variables, slot, targets);
  const lossIndex = slot.length - 1;
  // Reused gather buffer, sized for the largest slice.
  const features = new Float32Array(task.plan.maxRowsPerRank * data.rowSize);
  const loops = exchangeLoops();
  return (batch, start, end, step) =>
    tf.tidy(() => {
      const n = end - start;
      const rows = data.gatherFeatures(batch, start, end, features);
      if (task.augment) augmentRows(rows, batch, start, end, data.featureShape, task.augment, task.seed, step);
      const x = tf.tensor(rows, [n, ...inputShape]);
      const { labels, teacher } = targets(batch, start, end);
      const { value, grads } = tf.variableGrads(
        () => meanLoss(task.loss, { student: model.apply(x, { training: true }) as tf.Tensor2D, teacher, labels }),
        variables,
      );
      let offset = 0;
      let bounded = true;
      for (const variable of variables) {
        const grad = grads[variable.name]; // absent when the loss does not depend on the variable
        if (grad) bounded = loops.copyBounded(tensorValues(grad), slot, offset, FUSED_BOUND) && bounded;
        else slot.fill(0, offset, offset + variable.size);
        offset += variable.size;
      }
      slot[lossIndex] = value.dataSync()[0];
      return bounded && Math.abs(slot[lossIndex]) <= FUSED_BOUND;
    });
}

/**
 * Scales the averaged gradient so that its global L2 norm is at most `maxNorm`. Each rank sums the squares
 * of its own chunk; after a barrier every rank adds the W sums in rank order, so all get the same norm, and
 * scales its own chunk (which only it reads from here on).
 */
function clipGradient(
  mean: Float32Array,
  lo: number,
  hi: number,
  rank: number,
  norms: Float64Array,
  maxNorm: number,
  waitForAll: () => void,
): void {
  let sum = 0;
  for (let i = lo; i < hi; i++) sum += mean[i] * mean[i];
  norms[rank] = sum;
  waitForAll();
  let total = 0;
  for (let r = 0; r < norms.length; r++) total += norms[r];
  const norm = Math.sqrt(total);
  if (norm <= maxNorm) return;
  const scale = maxNorm / norm;
  for (let i = lo; i < hi; i++) mean[i] *= scale;
}

/**
 * This rank's side of the sharded optimizer: it applies the mean gradient to its chunk of the shared weights,
 * then, once every rank has, loads all the shared weights into the replica's variables. Without clipping,
 * which needs the whole mean's norm first, the exchange can average and update the chunk in one pass
 * ({@link averaged}; SharedAllReduce.allReduceUpdate), and {@link commit} then only reloads.
 */
export class ShardUpdate {
  readonly optimizer: ShardedOptimizer;
  /** Optimizer updates so far, those of earlier sessions included. */
  iterations: number;
  private readonly lo: number;
  private readonly hi: number;
  /** One float64 per rank: its share of the squared gradient norm, when clipping. */
  private readonly norms: Float64Array;
  private readonly reload: WeightReload;
  /** Whether the update may run in the exchange's pass ({@link averaged}, then {@link commit}). */
  readonly fused: boolean;
  /** The learning rate of the step {@link averaged} is for. */
  private pendingLearningRate = Number.NaN;
  /** Whether the variables in `readShared` lag the shared weights. */
  private stale = false;

  /**
   * Rank 0 also publishes its replica's initial weights as the shared ones. The variables in `readShared`
   * (which the gradient pass reads from the shared weights themselves) are loaded only by {@link syncModel}.
   */
  constructor(
    private readonly task: TrainTask,
    model: tf.LayersModel,
    variables: tf.Variable[],
    chunk: [number, number],
    private readonly waitForAll: () => void,
    private readonly readShared: tf.Variable[] = [],
  ) {
    // The optimizer runs on this rank's chunk of the shared weights (the loss, last in the vector, is not one).
    this.optimizer = ShardedOptimizer.attach(task.optimizer);
    [this.lo, this.hi] = chunk.map((i) => Math.min(i, this.optimizer.handle.length));
    this.iterations = task.resume?.iterations ?? 0;
    this.reload = new WeightReload(model, variables);
    this.norms = new Float64Array(task.norms);
    this.fused = task.rules.clipNorm === null;
    if (task.rank === 0) {
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
    const lr = learningRateAt(rules.lrSchedule, this.optimizer.handle.spec.learningRate, step, plan.steps);
    if (rules.clipNorm !== null) clipGradient(mean, this.lo, this.hi, rank, this.norms, rules.clipNorm, this.waitForAll);
    if (rules.weightDecay > 0) this.optimizer.decay(this.lo, this.hi, lr, rules.weightDecay);
    this.optimizer.update(mean, this.lo, this.hi, ++this.iterations, lr);
    this.waitForAll(); // every chunk is updated
    this.loadSharedWeights();
    return lr;
  }

  /**
   * The update of this rank's chunk at step `step` in the pass that averages it (SharedAllReduce.allReduceUpdate):
   * the decay and the optimizer, as {@link apply} runs them.
   */
  averaged(step: number): ChunkUpdate {
    const { rules, plan } = this.task;
    const lr = learningRateAt(rules.lrSchedule, this.optimizer.handle.spec.learningRate, step, plan.steps);
    this.pendingLearningRate = lr;
    return (slots, stride, shares, range) =>
      this.optimizer.averagedUpdate(slots, stride, shares, range, this.iterations + 1, lr, rules.weightDecay);
  }

  /** Once every rank has applied its chunk with {@link averaged}: counts the update and reloads the weights; returns the learning rate. */
  commit(): number {
    this.iterations++;
    this.loadSharedWeights();
    return this.pendingLearningRate;
  }

  /** Loads the shared weights into the variables the model alone reads: those not in `readShared`. */
  private loadSharedWeights(): void {
    this.reload.load(this.optimizer.weights, (variable) => !this.readShared.includes(variable));
    this.stale = this.readShared.length > 0;
  }

  /** Brings the whole model up to the shared weights: call it before anything reads the model. */
  syncModel(): void {
    if (!this.stale) return;
    this.reload.load(this.optimizer.weights, (variable) => this.readShared.includes(variable));
    this.stale = false;
  }
}
