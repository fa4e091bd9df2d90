/**
 * The element-wise loops of a data-parallel step's exchange: the weighted mean of the ranks' gradients
 * and the optimizer updates, over Float32Arrays in shared memory. They are memory-bound passes over every
 * parameter, so their speed shows directly in the step time. Two implementations with the same contracts:
 * these JavaScript loops, and the native addon's (native/exchange.c, vectorised C, float32 arithmetic),
 * which a thread running the openblas kernels uses. Either way the maths is element by element, so the
 * result does not depend on how the vector is split into chunks (the worker count).
 */
export interface ExchangeLoops {
  /**
   * out[i] = sum_r shares[r] * slots[r * stride + i] for i in [lo, hi), ranks in order, ranks with share 0
   * skipped (zeros when every share is 0). Returns whether every out[i] is finite.
   */
  weightedSum(slots: Float32Array, stride: number, shares: Float64Array, lo: number, hi: number, out: Float32Array): boolean;
  /** Whether every values[i], i in [lo, hi), is finite (the one-rank exchange's check, which copies nothing). */
  allFinite(values: Float32Array, lo: number, hi: number): boolean;
  /** tfjs's Adam on [lo, hi), with the bias corrections hoisted: stepSize = lr / (1 - beta1^t), rootCorrection2 = 1 / sqrt(1 - beta2^t). */
  adam(
    w: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    lo: number,
    hi: number,
    stepSize: number,
    rootCorrection2: number,
    beta1: number,
    beta2: number,
    epsilon: number,
  ): void;
  /** tfjs's momentum (not Nesterov) on [lo, hi): a = momentum * a + g; w -= lr * a. */
  momentum(w: Float32Array, accumulation: Float32Array, g: Float32Array, lo: number, hi: number, lr: number, momentum: number): void;
  /** w -= lr * g on [lo, hi). */
  sgd(w: Float32Array, g: Float32Array, lo: number, hi: number, lr: number): void;
  /**
   * weightedSum and an update in one pass over [lo, hi), the mean never stored: with g[i] the weightedSum of
   * the slots, the rule's update (the loops above, the weights first decayed as `w *= decay` would in a
   * Float32Array) of `state` (weights, then the rule's slots) in place. Element by element the same values
   * as weightedSum, the decay and the rule's loop in turn. `scalars` are the numbers the rule's loop above
   * takes after its vectors.
   */
  averagedUpdate(
    rule: UpdateRule,
    slots: Float32Array,
    stride: number,
    shares: Float64Array,
    lo: number,
    hi: number,
    state: Float32Array[],
    decay: number,
    scalars: Float64Array,
  ): void;
  /** Copies `source` into `target` at `offset`; returns whether every |source[i]| <= limit (false for NaN and the infinities). */
  copyBounded(source: Float32Array, target: Float32Array, offset: number, limit: number): boolean;
}

/** The optimizer updates averagedUpdate applies, numbered as native/averaged-update.c has them. */
export const UPDATE_RULES = { sgd: 0, momentum: 1, adam: 2 } as const;
export type UpdateRule = (typeof UPDATE_RULES)[keyof typeof UPDATE_RULES];

/** g[i] as javascriptLoops.weightedSum computes it (each partial sum stored as a float32). */
function meanAt(slots: Float32Array, stride: number, shares: Float64Array, i: number): number {
  let g = 0;
  let written = false;
  for (let r = 0; r < shares.length; r++) {
    const share = shares[r];
    if (share === 0) continue;
    g = Math.fround(written ? g + share * slots[r * stride + i] : share * slots[r * stride + i]);
    written = true;
  }
  return g;
}

export const javascriptLoops: ExchangeLoops = {
  weightedSum(slots, stride, shares, lo, hi, out) {
    // One pass per contributing slot: the first one writes the range, the others add to it.
    let written = false;
    for (let r = 0; r < shares.length; r++) {
      const share = shares[r];
      if (share === 0) continue;
      const offset = r * stride;
      if (written) for (let i = lo; i < hi; i++) out[i] += share * slots[offset + i];
      else for (let i = lo; i < hi; i++) out[i] = share * slots[offset + i];
      written = true;
    }
    if (!written) out.fill(0, lo, hi);
    return javascriptLoops.allFinite(out, lo, hi);
  },
  allFinite(values, lo, hi) {
    // x * 0 is 0 for every finite x and NaN otherwise: one pass tells whether the range is all finite.
    let probe = 0;
    for (let i = lo; i < hi; i++) probe += values[i] * 0;
    return probe === 0;
  },
  adam(w, m, v, g, lo, hi, stepSize, rootCorrection2, beta1, beta2, epsilon) {
    for (let i = lo; i < hi; i++) {
      const gi = g[i];
      const mi = (m[i] = beta1 * m[i] + (1 - beta1) * gi);
      const vi = (v[i] = beta2 * v[i] + (1 - beta2) * gi * gi);
      w[i] -= (stepSize * mi) / (Math.sqrt(vi) * rootCorrection2 + epsilon);
    }
  },
  momentum(w, accumulation, g, lo, hi, lr, momentum) {
    for (let i = lo; i < hi; i++) {
      const a = (accumulation[i] = momentum * accumulation[i] + g[i]);
      w[i] -= lr * a;
    }
  },
  sgd(w, g, lo, hi, lr) {
    for (let i = lo; i < hi; i++) w[i] -= lr * g[i];
  },
  averagedUpdate(rule, slots, stride, shares, lo, hi, state, decay, scalars) {
    const [w, a, b] = state;
    const [lr, momentum] = scalars; // sgd's and momentum's
    const [stepSize, rootCorrection2, beta1, beta2, epsilon] = scalars; // adam's
    for (let i = lo; i < hi; i++) {
      const g = meanAt(slots, stride, shares, i);
      const wi = Math.fround(w[i] * decay);
      if (rule === UPDATE_RULES.sgd) w[i] = wi - lr * g;
      else if (rule === UPDATE_RULES.momentum) {
        const ai = (a[i] = momentum * a[i] + g);
        w[i] = wi - lr * ai;
      } else {
        const mi = (a[i] = beta1 * a[i] + (1 - beta1) * g);
        const vi = (b[i] = beta2 * b[i] + (1 - beta2) * g * g);
        w[i] = wi - (stepSize * mi) / (Math.sqrt(vi) * rootCorrection2 + epsilon);
      }
    }
  },
  copyBounded(source, target, offset, limit) {
    target.set(source, offset);
    let inside = true;
    for (let i = 0; i < source.length; i++) inside &&= Math.abs(source[i]) <= limit;
    return inside;
  },
};

let active: ExchangeLoops = javascriptLoops;

/** Makes this thread's exchanges use `loops` from now on (set when the kernels are selected). */
export function useExchangeLoops(loops: ExchangeLoops): void {
  active = loops;
}

/** The loops this thread's exchanges use: JavaScript unless the native ones were selected. */
export function exchangeLoops(): ExchangeLoops {
  return active;
}
