import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../dist/kernels/backend.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { selectWasmKernels } from '../dist/kernels/kernel-choice.js';
import { buildModel } from '../dist/models/architectures.js';
import { mulberry32 } from '../dist/random.js';
import { WeightReload } from '../dist/train/weight-reload.js';

// The replica's reload of the shared weights: in place on the wasm heap only where no kernel keeps a packed
// copy of the old values. Every case checks what the model computes after each load against a model given
// the same weights through setWeights, so a stale packed copy anywhere fails it.
const NATIVE = 'blas' in loadBlas();

beforeAll(async () => {
  await initBackend(['wasm'], NATIVE ? 'openblas' : 'wasm');
});
afterAll(() => {
  selectWasmKernels('auto', tf.backend() as BackendWasm);
});

function randomValues(length: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length }, () => random() * 0.2 - 0.1);
}

/** A model, its variables and a reload; `check(seed)` loads fresh weights and compares the outputs. */
function subject(model: tf.LayersModel, inputShape: number[]) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const reload = new WeightReload(model, variables);
  const twin = tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) } as never);
  const x = tf.tensor(randomValues(3 * inputShape.reduce((a, b) => a * b), 99), [3, ...inputShape]);
  const ids = () => variables.map((v) => v.dataId);
  return {
    variables,
    /** Loads weights from `seed`; returns whether they were written in place (the variables kept their data). */
    async check(seed: number): Promise<boolean> {
      const before = ids();
      const weights = randomValues(
        variables.reduce((n, v) => n + v.size, 0),
        seed,
      );
      model.predict(x); // let every kernel see (and any pack) the current weights first
      reload.load(weights);
      let offset = 0;
      (await twin).setWeights(variables.map((v) => tf.tensor(weights.subarray(offset, (offset += v.size)), v.shape)));
      const got = (model.predict(x) as tf.Tensor).dataSync();
      const want = ((await twin).predict(x) as tf.Tensor).dataSync();
      expect(Array.from(got)).toEqual(Array.from(want));
      return ids().every((id, i) => id === before[i]);
    },
  };
}

describe('WeightReload', () => {
  it.runIf(NATIVE)('under the native kernels: new tensors once, then in place; new tensors again after a stock matMul ran', async () => {
    const model = buildModel('mlp:16', { inputShape: [4, 4, 1], numClasses: 3, seed: 1 });
    const s = subject(model, [4, 4, 1]);
    expect(await s.check(1)).toBe(false); // the first load: the variables' tensors may predate the native set
    expect(await s.check(2)).toBe(true);
    expect(await s.check(3)).toBe(true);
    // A matMul the native kernel hands on to the stock one (a prelu whose weights do not broadcast as a
    // suffix), on the model's own kernel: XNNPACK packs it, so the next load must make new tensors.
    const [kernel] = s.variables;
    tf.tidy(() =>
      tf.fused.matMul({ a: tf.ones([2, 16]), b: kernel, activation: 'prelu', preluActivationWeights: tf.ones([2, 1]) }).dataSync(),
    );
    expect(await s.check(4)).toBe(false);
    expect(await s.check(5)).toBe(true);
  });

  it.runIf(NATIVE)('a CNN under the native kernels is loaded in place too', async () => {
    const s = subject(buildModel('cnn:4,8', { inputShape: [8, 8, 1], numClasses: 3, seed: 1 }), [8, 8, 1]);
    expect(await s.check(1)).toBe(false);
    expect(await s.check(2)).toBe(true);
  });

  it.runIf(NATIVE)(
    'a variable assigned elsewhere since the last load gets new tensors, and the tensor it was given is left alone',
    async () => {
      const model = buildModel('mlp:16', { inputShape: [4, 4, 1], numClasses: 3, seed: 1 });
      const s = subject(model, [4, 4, 1]);
      expect(await s.check(1)).toBe(false);
      expect(await s.check(2)).toBe(true);
      // Someone else (a restore, setWeights) gives the first variable a tensor that another tensor shares.
      const [kernel] = s.variables;
      const given = tf.tensor(randomValues(kernel.size, 7), kernel.shape);
      const before = Array.from(given.dataSync());
      kernel.assign(given);
      expect(await s.check(3)).toBe(false);
      expect(Array.from(given.dataSync())).toEqual(before);
      expect(await s.check(4)).toBe(true);
      given.dispose();
    },
  );

  it('under the stock kernels, which pack weights, every load makes new tensors', async () => {
    selectWasmKernels('wasm', tf.backend() as BackendWasm);
    try {
      const s = subject(buildModel('cnn:4,8', { inputShape: [8, 8, 1], numClasses: 3, seed: 1 }), [8, 8, 1]);
      for (let seed = 1; seed <= 3; seed++) expect(await s.check(seed)).toBe(false);
    } finally {
      if (NATIVE) selectWasmKernels('openblas', tf.backend() as BackendWasm);
    }
  });

  it.runIf(NATIVE)('a model with a layer whose weights a stock kernel packs (a depthwise conv) always gets new tensors', async () => {
    const input = tf.input({ shape: [6, 6, 2] });
    const depthwise = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 3 }).apply(tf.layers.flatten().apply(depthwise)) as tf.SymbolicTensor;
    const s = subject(tf.model({ inputs: input, outputs: output }), [6, 6, 2]);
    for (let seed = 1; seed <= 3; seed++) expect(await s.check(seed)).toBe(false);
  });
});
