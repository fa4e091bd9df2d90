import { describe, expect, it } from 'vitest';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { type ExchangeLoops, javascriptLoops, UPDATE_RULES } from '../dist/kernels/exchange-loops.js';
import { FUSED_BOUND, SharedAllReduce } from '../dist/parallel/allreduce.js';
import { SharedBarrier } from '../dist/parallel/barrier.js';
import { randomValues, shared } from './helpers/shared-values.js';

// The fused exchange's loops (native/averaged-update.c and their JavaScript twins) against the loops they
// fuse, which exchange-loops.test.ts and data-parallel.test.ts check: bit for bit, per implementation.
const load = loadBlas();
const native: ExchangeLoops | undefined = 'blas' in load ? load.blas : undefined;
const implementations = { javascript: javascriptLoops, ...(native && { native }) };

describe.each(Object.entries(implementations))('%s averagedUpdate', (_, loops) => {
  const [ranks, stride, length] = [3, 2080, 2070];
  const [lo, hi] = [17, 2051]; // not a multiple of the native block, nor aligned
  const shares = Float64Array.of(0.25, 0, 0.75); // a rank with an empty slice

  it.each([
    ['adam', 0],
    ['adam', 0.01],
    ['momentum', 0],
    ['momentum', 0.01],
    ['sgd', 0.01],
  ] as const)('%s (weight decay %s): the values of weightedSum, the decay and the update in turn, over 12 steps', (rule, weightDecay) => {
    const lr = 0.01;
    const state = () => [shared(randomValues(length, 2)), shared(new Float32Array(length)), shared(new Float32Array(length))];
    const [fused, apart] = [state(), state()];
    const mean = shared(new Float32Array(stride));
    for (let t = 1; t <= 12; t++) {
      const slots = shared(randomValues(ranks * stride, 10 + t, 0.1));
      const factor = weightDecay > 0 ? 1 - lr * weightDecay : 1;
      const scalars = {
        adam: Float64Array.of(lr / (1 - 0.9 ** t), 1 / Math.sqrt(1 - 0.999 ** t), 0.9, 0.999, 1e-7),
        momentum: Float64Array.of(lr, 0.9),
        sgd: Float64Array.of(lr),
      }[rule];
      const vectors = { adam: 3, momentum: 2, sgd: 1 }[rule];
      loops.averagedUpdate(UPDATE_RULES[rule], slots, stride, shares, lo, hi, fused.slice(0, vectors), factor, scalars);
      // The same step as ShardedOptimizer's decay and update after allReduceMean's weightedSum.
      expect(loops.weightedSum(slots, stride, shares, lo, hi, mean)).toBe(true);
      const [w, a, b] = apart;
      if (weightDecay > 0) for (let i = lo; i < hi; i++) w[i] *= factor;
      if (rule === 'adam') loops.adam(w, a, b, mean, lo, hi, scalars[0], scalars[1], 0.9, 0.999, 1e-7);
      if (rule === 'momentum') loops.momentum(w, a, mean, lo, hi, lr, 0.9);
      if (rule === 'sgd') loops.sgd(w, mean, lo, hi, lr);
    }
    for (let v = 0; v < 3; v++) expect(fused[v]).toEqual(apart[v]);
    const start = randomValues(length, 2);
    expect(fused[0][lo]).not.toBe(start[lo]); // it moved...
    expect(fused[0][lo - 1]).toBe(start[lo - 1]); // ...inside the range only
    expect(fused[0][hi]).toBe(start[hi]);
  });

  it('copyBounded copies, and says whether every value is within the limit', () => {
    const source = randomValues(1000, 4, 2);
    const target = shared(new Float32Array(1010).fill(7));
    expect(loops.copyBounded(source, target, 5, 2)).toBe(true);
    expect(target.subarray(5, 1005)).toEqual(source);
    expect([target[4], target[1005]]).toEqual([7, 7]);
    source[500] = 2; // the limit itself is within it
    expect(loops.copyBounded(source, target, 5, 2)).toBe(true);
    for (const outside of [2.0001, -3, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      source[999] = outside;
      expect(loops.copyBounded(source, target, 0, 2)).toBe(false);
      expect(Object.is(target[999], Math.fround(outside))).toBe(true);
      source[999] = 0;
    }
  });
});

describe.runIf(native)('native averagedUpdate arguments', () => {
  it('refuses a state of the wrong size, a range outside it and the wrong scalar count, with a message', () => {
    const w = shared(new Float32Array(64));
    const slots = shared(new Float32Array(128));
    const one = Float64Array.of(1);
    expect(() => native!.averagedUpdate(UPDATE_RULES.adam, slots, 64, one, 0, 64, [w], 1, one)).toThrow(/array of 3 Float32Arrays/);
    expect(() => native!.averagedUpdate(UPDATE_RULES.sgd, slots, 64, one, 0, 65, [w], 1, one)).toThrow(/outside the state/);
    expect(() => native!.averagedUpdate(UPDATE_RULES.sgd, slots, 64, one, 0, 64, [w], 1, Float64Array.of(1, 2))).toThrow(/takes 1 scalars/);
    expect(() => native!.copyBounded(new Float32Array(65), w, 0, 1)).toThrow(/copyBounded/);
  });
});

describe('allReduceUpdate with one rank', () => {
  const length = 1001; // 1000 weights, then the loss
  const make = () => {
    const allReduce = SharedAllReduce.create(length, SharedBarrier.create(1), javascriptLoops);
    allReduce.slot(0).set(Float32Array.from({ length }, (_, i) => Math.sin(i) * 3));
    return allReduce;
  };

  it('with every slot bounded, updates the weights in the averaging pass and averages the loss', () => {
    const allReduce = make();
    const ranges: [number, number][] = [];
    const result = allReduce.allReduceUpdate(0, 64, false, 1000, true, 1000, (_slots, _stride, shares, range) => {
      expect([...shares]).toEqual([1]);
      ranges.push(range);
    });
    expect(ranges).toEqual([[0, 1000]]);
    expect(result).toMatchObject({ applied: true, finite: true, stop: false });
    expect(result.mean[1000]).toBe(allReduce.slot(0)[1000]);
  });

  it('with a slot not bounded, is allReduceMean: the whole mean and its verdict, no update', () => {
    for (const bad of [FUSED_BOUND * 1.5, Number.NaN]) {
      const allReduce = make();
      allReduce.slot(0)[10] = bad;
      const result = allReduce.allReduceUpdate(0, 64, true, 1000, false, 1000, () => {
        throw new Error('no update when a slot is not bounded');
      });
      expect(result).toMatchObject({ applied: false, finite: !Number.isNaN(bad), stop: true });
      expect(result.mean).toEqual(allReduce.slot(0));
    }
  });
});
