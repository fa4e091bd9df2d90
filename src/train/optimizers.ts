import { exchangeLoops, UPDATE_RULES } from '../kernels/exchange-loops.js';
import type { OptimizerState } from './checkpoint.js';

/** The optimizer every phase runs on the averaged gradient. */
export interface OptimizerSpec {
  name: 'adam' | 'sgd' | 'momentum';
  learningRate: number;
}

// tfjs's defaults, so the maths is that of tf.train.adam / tf.train.momentum.
const MOMENTUM = 0.9;
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;

/** How many float32 values of state each optimizer keeps per parameter (Adam: m and v). */
const SLOTS: Record<OptimizerSpec['name'], string[]> = { adam: ['m', 'v'], sgd: [], momentum: ['accumulation'] };

export const OPTIMIZER_NAMES = Object.keys(SLOTS) as OptimizerSpec['name'][];

/** What crosses to a worker: the flat trainable weights and the optimizer's state, in shared memory. */
export interface ShardedOptimizerHandle {
  spec: OptimizerSpec;
  /** Number of trainable parameters. */
  length: number;
  /** The trainable weights, flat, in the order of the model's trainable weights. */
  weights: SharedArrayBuffer;
  /** The optimizer's slots, one after the other, `length` values each. */
  slots: SharedArrayBuffer;
}

/**
 * The numbers a rule's loop takes after its vectors, for update number `iteration` (1-based): sgd's rate,
 * momentum's rate and momentum, Adam's bias-corrected step size and second-moment correction, betas and epsilon.
 */
function ruleScalars(name: OptimizerSpec['name'], lr: number, iteration: number): number[] {
  switch (name) {
    case 'sgd':
      return [lr];
    case 'momentum':
      return [lr, MOMENTUM];
    case 'adam':
      return [lr / (1 - BETA1 ** iteration), 1 / Math.sqrt(1 - BETA2 ** iteration), BETA1, BETA2, EPSILON];
  }
}

/** What decoupled weight decay multiplies each weight by before the rule's update. */
const decayFactor = (lr: number, decay: number) => 1 - lr * decay;

/**
 * The optimizer, sharded like the reduce-scatter: every rank updates only its own chunk of the shared
 * weights, with the same averaged gradient, and then every replica copies the whole weight vector in.
 * Each rank thus does 1/W of the optimizer's work and memory traffic instead of all of it, and the
 * element-wise maths gives the same result whatever the chunking (any W). The update rules are tfjs's.
 */
export class ShardedOptimizer {
  readonly weights: Float32Array;
  private readonly slots: Float32Array[];
  private readonly loops = exchangeLoops();

  private constructor(readonly handle: ShardedOptimizerHandle) {
    this.weights = new Float32Array(handle.weights);
    this.slots = SLOTS[handle.spec.name].map((_, i) => new Float32Array(handle.slots, i * handle.length * 4, handle.length));
  }

  /** Fresh state (zeros), or the state of a checkpoint. */
  static create(spec: OptimizerSpec, length: number, state?: OptimizerState): ShardedOptimizer {
    const slotCount = SLOTS[spec.name].length;
    const optimizer = new ShardedOptimizer({
      spec,
      length,
      weights: new SharedArrayBuffer(length * 4),
      slots: new SharedArrayBuffer(Math.max(1, slotCount * length) * 4),
    });
    if (state) {
      if (state.values.length !== slotCount * length) {
        throw new Error(`the checkpoint's optimizer state has ${state.values.length} values, ${spec.name} needs ${slotCount * length}`);
      }
      new Float32Array(optimizer.handle.slots, 0, state.values.length).set(state.values);
    }
    return optimizer;
  }

  static attach(handle: ShardedOptimizerHandle): ShardedOptimizer {
    return new ShardedOptimizer(handle);
  }

  /**
   * Applies update number `iteration` (1-based; Adam's bias correction needs it) to weights [lo, hi)
   * with the averaged gradient `gradient`.
   */
  update(gradient: Float32Array, lo: number, hi: number, iteration: number, lr = this.handle.spec.learningRate): void {
    const [a, b, c, d, e] = ruleScalars(this.handle.spec.name, lr, iteration);
    switch (this.handle.spec.name) {
      case 'sgd':
        this.loops.sgd(this.weights, gradient, lo, hi, a);
        return;
      case 'momentum':
        this.loops.momentum(this.weights, this.slots[0], gradient, lo, hi, a, b);
        return;
      case 'adam':
        this.loops.adam(this.weights, this.slots[0], this.slots[1], gradient, lo, hi, a, b, c, d, e);
        return;
    }
  }

  /**
   * The averaging and the update in one pass (ExchangeLoops.averagedUpdate): update number `iteration`,
   * after a decoupled weight decay `decay` (0 for none), of weights [lo, hi) with the mean of the ranks'
   * gradients in `slots` weighted by `shares`: the same values as weightedSum, {@link decay} and
   * {@link update} in turn. Only for a step whose mean is known to be finite: it cannot be undone.
   */
  averagedUpdate(
    slots: Float32Array,
    stride: number,
    shares: Float64Array,
    [lo, hi]: [number, number],
    iteration: number,
    lr: number,
    decay: number,
  ): void {
    const { name } = this.handle.spec;
    const scalars = Float64Array.from(ruleScalars(name, lr, iteration));
    const factor = decay > 0 ? decayFactor(lr, decay) : 1;
    this.loops.averagedUpdate(UPDATE_RULES[name], slots, stride, shares, lo, hi, [this.weights, ...this.slots], factor, scalars);
  }

  /**
   * Decoupled weight decay (AdamW's, Loshchilov and Hutter): w -= lr * decay * w on [lo, hi), before the
   * optimizer's own update, so the decay does not pass through Adam's moments.
   */
  decay(lo: number, hi: number, lr: number, decay: number): void {
    const factor = decayFactor(lr, decay);
    for (let i = lo; i < hi; i++) this.weights[i] *= factor;
  }

  /** The state for a checkpoint: `iterations` updates applied so far. */
  exportState(iterations: number): OptimizerState {
    const names = SLOTS[this.handle.spec.name];
    return {
      iterations,
      tensors: names.map((name) => ({ name, shape: [this.handle.length] })),
      values: new Float32Array(new Float32Array(this.handle.slots, 0, names.length * this.handle.length)),
    };
  }
}
