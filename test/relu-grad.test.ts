import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { RELU_GRAD } from '../dist/kernels/blas/relu-grad.js';
import { type KernelChoice, selectWasmKernels } from '../dist/kernels/kernel-choice.js';
import { mulberry32 } from '../dist/random.js';
import { onWasmWithKernels, requiredBlas } from './helpers/native-blas.js';

// The openblas kernels compute ReLU's gradient in one native pass (native/activation-grad.c) instead of
// tfjs's dy * cast(step(x)). The contract is tfjs's result bit for bit: it is checked against the wasm
// kernels (tfjs's own gradient) on the wasm backend, values as their bits.

const blas = requiredBlas();
const NATIVE = 'blas' in blas;

onWasmWithKernels();

/** Runs `f` with the wasm `kernels` selected; the values of what it returns, as bits (NaN as one value). */
function bitsWith(kernels: KernelChoice, f: () => tf.Tensor[]): number[][] {
  selectWasmKernels(kernels, tf.backend() as BackendWasm);
  const out = tf.tidy(f);
  const bits = out.map((t) =>
    Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer), (b, i) => (Number.isNaN(t.dataSync()[i]) ? -1 : b)),
  );
  tf.dispose(out);
  return bits;
}

/** Which kernels a function ran, by name. */
async function kernelsRun(f: () => tf.Tensor): Promise<string[]> {
  const profile = await tf.profile(() => tf.tidy(f));
  return profile.kernels.map((k) => k.name);
}

describe.runIf(NATIVE)('ReLU gradient in the native addon', () => {
  const random = mulberry32(11);
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-45, -1e-45, 3, -3];
  // Every pairing of special x and dy values, then seeded values either side of 0 (a length that is not a
  // multiple of any vector width).
  const xs = [...specials.flatMap((x) => specials.map(() => x)), ...Array.from({ length: 1003 }, () => random() * 2 - 1)];
  const dys = [...specials.flatMap(() => specials), ...Array.from({ length: 1003 }, () => random() * 4 - 2)];

  it('equals tfjs gradient bit for bit, specials included', () => {
    const gradient = () => {
      const x = tf.tensor1d(xs);
      const dy = tf.tensor1d(dys);
      return [tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy)];
    };
    const native = bitsWith('openblas', gradient);
    const tfjs = bitsWith('wasm', gradient);
    expect(native).toEqual(tfjs);
    // Not all zeros or all copies of dy: both branches are exercised.
    const values = new Float32Array(Uint32Array.from(native[0].map((b) => (b === -1 ? 0 : b))).buffer);
    expect(values.filter((v, i) => v !== 0 && v === Math.fround(dys[i])).length).toBeGreaterThan(400);
    expect(values.filter((v) => v === 0).length).toBeGreaterThan(400);
  });

  it('runs one kernel under openblas and tfjs Step and Multiply under wasm', async () => {
    const gradient = () =>
      tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor2d(xs.slice(0, 1000), [10, 100]), tf.tensor2d(dys.slice(0, 1000), [10, 100]));
    selectWasmKernels('openblas', tf.backend() as BackendWasm);
    const native = await kernelsRun(gradient);
    expect(native).toContain(RELU_GRAD);
    expect(native).not.toContain('Step');
    selectWasmKernels('wasm', tf.backend() as BackendWasm);
    const tfjs = await kernelsRun(gradient);
    expect(tfjs).not.toContain(RELU_GRAD);
    expect(tfjs).toContain('Step');
  });

  it('leaves the gradient of a dense and a conv ReLU model on the openblas kernels unchanged bit for bit', () => {
    selectWasmKernels('wasm', tf.backend() as BackendWasm);
    const tfjsReluGradient = tf.getGradient('Relu')!;
    const step = (conv: boolean) => () => {
      const r = mulberry32(conv ? 21 : 22);
      const v = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
      const layers = conv
        ? [
            tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
            tf.layers.maxPooling2d({ poolSize: 2 }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 16, activation: 'relu' }),
            tf.layers.dense({ units: 3 }),
          ]
        : [tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu' }), tf.layers.dense({ units: 3 })];
      const model = tf.sequential({ layers });
      model.setWeights(model.getWeights().map((w) => tf.tensor(v(w.size), w.shape)));
      const x = tf.tensor(v(6 * (conv ? 128 : 12)), conv ? [6, 8, 8, 2] : [6, 12]);
      const y = tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0, 2], 'int32'), 3);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        vars,
      );
      const out = [value, ...vars.map((w) => grads[w.name].clone())];
      model.dispose();
      return out;
    };
    for (const conv of [false, true]) {
      const native = bitsWith('openblas', step(conv));
      // The same kernels, with tfjs's own Relu gradient put back.
      const withTfjsGradient = bitsWith('openblas', () => {
        tf.registerGradient(tfjsReluGradient);
        return step(conv)();
      });
      expect(native.length).toBe(conv ? 7 : 5);
      expect(native).toEqual(withTfjsGradient);
    }
  });
});
