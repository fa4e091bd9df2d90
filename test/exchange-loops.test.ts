import { describe, expect, it } from 'vitest';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { type ExchangeLoops, javascriptLoops } from '../dist/kernels/exchange-loops.js';
import { randomValues, shared } from './helpers/shared-values.js';

// The native loops (native/exchange.c) against the JavaScript ones, which data-parallel.test.ts checks
// against tf.train's optimizers. CI sets TFJS_DISTILL_REQUIRE_OPENBLAS: there native-kernels.test.ts fails
// when the addon is missing, so this file cannot skip unnoticed.
const load = loadBlas();
const native: ExchangeLoops | undefined = 'blas' in load ? load.blas : undefined;

const LENGTH = 1000;
/** Largest |a - b| relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return worst / scale;
}

describe.runIf(native)('native exchange loops match the JavaScript ones', () => {
  const loops = { native: native!, javascript: javascriptLoops };

  it('weightedSum: shares with zeros, a sub-range, the rest untouched, and the finiteness verdict', () => {
    const stride = 1008;
    const slots = shared(randomValues(stride * 3, 1));
    const shares = Float64Array.of(0.25, 0, 0.75);
    const [lo, hi] = [16, 992];
    const out = { native: shared(new Float32Array(stride).fill(9)), javascript: shared(new Float32Array(stride).fill(9)) };
    for (const name of ['native', 'javascript'] as const) {
      expect(loops[name].weightedSum(slots, stride, shares, lo, hi, out[name])).toBe(true);
    }
    expect(relativeError(out.native, out.javascript)).toBeLessThan(1e-6);
    expect(out.native[lo - 1]).toBe(9);
    expect(out.native[hi]).toBe(9);
    expect(out.native[lo]).toBeCloseTo(0.25 * slots[lo] + 0.75 * slots[2 * stride + lo], 6);

    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      slots[2 * stride + 500] = bad;
      for (const name of ['native', 'javascript'] as const) {
        expect(loops[name].weightedSum(slots, stride, shares, lo, hi, out[name])).toBe(false);
        // Outside the range the bad value is not looked at.
        expect(loops[name].weightedSum(slots, stride, shares, 501, hi, out[name])).toBe(true);
      }
    }
    // Every share 0 (every slice empty): zeros.
    for (const name of ['native', 'javascript'] as const) {
      expect(loops[name].weightedSum(slots, stride, Float64Array.of(0, 0, 0), lo, hi, out[name])).toBe(true);
      expect(out[name].subarray(lo, hi).every((v) => v === 0)).toBe(true);
    }
  });

  it('allFinite: the verdict on a sub-range, a bad value outside it not looked at', () => {
    const values = shared(randomValues(1000, 3));
    for (const name of ['native', 'javascript'] as const) expect(loops[name].allFinite(values, 0, 1000)).toBe(true);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      values[700] = bad;
      for (const name of ['native', 'javascript'] as const) {
        expect(loops[name].allFinite(values, 0, 1000)).toBe(false);
        expect(loops[name].allFinite(values, 701, 1000)).toBe(true);
        expect(loops[name].allFinite(values, 0, 700)).toBe(true);
      }
    }
    expect(() => native!.allFinite(values, 0, 1001)).toThrow(/range outside the array/);
  });

  it('adam, momentum and sgd over 20 updates of a sub-range', () => {
    const [lo, hi] = [100, 900];
    const state = () => ({
      w: shared(randomValues(LENGTH, 2)),
      a: shared(new Float32Array(LENGTH)),
      b: shared(new Float32Array(LENGTH)),
    });
    const runs = {
      native: { adam: state(), momentum: state(), sgd: state() },
      javascript: { adam: state(), momentum: state(), sgd: state() },
    };
    for (let t = 1; t <= 20; t++) {
      const g = shared(randomValues(LENGTH, 10 + t, 0.1));
      for (const name of ['native', 'javascript'] as const) {
        const { adam, momentum, sgd } = runs[name];
        loops[name].adam(adam.w, adam.a, adam.b, g, lo, hi, 0.01 / (1 - 0.9 ** t), 1 / Math.sqrt(1 - 0.999 ** t), 0.9, 0.999, 1e-7);
        loops[name].momentum(momentum.w, momentum.a, g, lo, hi, 0.05, 0.9);
        loops[name].sgd(sgd.w, g, lo, hi, 0.05);
      }
    }
    const start = randomValues(LENGTH, 2);
    for (const rule of ['adam', 'momentum', 'sgd'] as const) {
      const [n, j] = [runs.native[rule], runs.javascript[rule]];
      expect(relativeError(n.w, j.w)).toBeLessThan(1e-5);
      expect(n.w[lo]).not.toBe(start[lo]); // it moved...
      expect(n.w[lo - 1]).toBe(start[lo - 1]); // ...inside the range only
      expect(n.w[hi]).toBe(start[hi]);
    }
    expect(relativeError(runs.native.adam.b, runs.javascript.adam.b)).toBeLessThan(1e-5); // Adam's v
  });

  it('refuses a range outside an array, or the wrong array type, with a message', () => {
    const w = shared(new Float32Array(10));
    expect(() => native!.sgd(w, w, 0, 11, 0.1)).toThrow(/range outside the array/);
    expect(() => native!.sgd(w, w, 5, 4, 0.1)).toThrow(/range outside the array/);
    expect(() => native!.sgd(w, new Float64Array(10) as never, 0, 10, 0.1)).toThrow(/expected a Float32Array/);
    expect(() => native!.weightedSum(w, 8, Float64Array.of(1, 1), 0, 8, w)).toThrow(/slots smaller than ranks x stride/);
  });
});
