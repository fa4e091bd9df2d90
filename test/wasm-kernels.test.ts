import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerMissingWasmKernels, replaceWasmKernels } from '../dist/kernels/wasm-kernels.js';
import { mulberry32 } from '../dist/random.js';
import { sameConv3x3Gradients } from './fixtures/conv-reference.js';

// The cpu backend is the reference throughout; its conv filter gradient is extremely slow (~0.01 GFLOP/s),
// so every shape it sees is tiny.

let registered: string[] = [];

beforeAll(async () => {
  registered = [...registerMissingWasmKernels(), ...replaceWasmKernels()];
  await tf.setBackend('wasm');
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Deterministic values in [-1, 1). */
function values(size: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: size }, () => random() * 2 - 1);
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `f` with `backend` active and switches back to wasm. */
async function on<T>(backend: 'wasm' | 'cpu', f: () => T | Promise<T>): Promise<T> {
  await tf.setBackend(backend);
  try {
    return await f();
  } finally {
    await tf.setBackend('wasm');
  }
}

/** The values of the tensor `f` returns, with every tensor it made disposed. */
function read(f: () => tf.Tensor): Float32Array | Int32Array | Uint8Array {
  const t = tf.tidy(f);
  const data = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  t.dispose();
  return data;
}

/** Every element within `rtol` of the reference, relative to the reference's largest magnitude. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  expect(scale).toBeGreaterThan(0); // a reference of all zeros would prove nothing
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(rtol * scale);
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  roundingMode?: 'floor' | 'round' | 'ceil';
}

/** d/dfilter of sum(conv2d(x, filter) * dy), dy fixed and random: exactly the Conv2DBackpropFilter of dy. */
function filterGradient(c: ConvCase): Float32Array {
  return read(() => {
    const x = tf.tensor4d(values(sizeOf(c.x), 1), c.x);
    const filter = tf.tensor4d(values(sizeOf(c.filter), 2), c.filter);
    const conv = (f: tf.Tensor4D) => tf.conv2d(x, f, c.strides, c.pad, 'NHWC', 1, c.roundingMode);
    const outShape = conv(filter).shape;
    const dy = tf.tensor(values(sizeOf(outShape), 3), outShape);
    return tf.grad((f: tf.Tensor) => tf.sum(tf.mul(conv(f as tf.Tensor4D), dy)))(filter);
  }) as Float32Array;
}

describe('registerMissingWasmKernels', () => {
  it('registers a native Conv2DBackpropFilter, JS-loop kernels, and cpu bridges for the rest', () => {
    expect(registered).toContain('Conv2DBackpropFilter: im2col + wasm matMul');
    expect(registered).toContain('DepthwiseConv2dNativeBackpropFilter: JS loops on the wasm heap');
    expect(registered).toContain('DepthwiseConv2dNativeBackpropInput: JS loops on the wasm heap');
    expect(registered).toContain('UnsortedSegmentSum: JS loop on the wasm heap');
    expect(registered).toContain("Einsum: cpu backend's kernel, data copied across");
    expect(registered).toContain("StaticRegexReplace: cpu backend's kernel, data copied across");
    // complex64 cannot live on the wasm heap, and Draw needs a canvas: those stay unregistered.
    for (const name of ['Complex', 'ComplexAbs', 'FFT', 'IFFT', 'Imag', 'Real', 'Draw']) {
      expect(tf.getKernel(name, 'wasm')).toBeUndefined();
    }
    const wasmKernels = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    const stillMissing = tf
      .getKernelsForBackend('cpu')
      .map((k) => k.kernelName)
      .filter((name) => !wasmKernels.has(name))
      .sort();
    expect(stillMissing).toEqual(['Complex', 'ComplexAbs', 'Draw', 'FFT', 'IFFT', 'Imag', 'Real']);
  });

  it('is harmless to call twice: registers nothing more, replaces nothing, warns nothing', () => {
    const before = tf.getKernel('Conv2DBackpropFilter', 'wasm')!.kernelFunc;
    const warn = vi.spyOn(console, 'warn');
    expect(registerMissingWasmKernels()).toEqual([]);
    expect(replaceWasmKernels()).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')!.kernelFunc).toBe(before);
  });

  it('makes Identity (tf.clone, and the tensors a gradient saves) share data instead of copying it', () => {
    expect(registered).toContain("Identity: shares its input's data instead of copying it");
    // Its sibling, the JS MaxPoolGrad, is checked against the cpu backend in native-kernels.test.ts (the wasm set).
    expect(registered).toContain('MaxPoolGrad: JS loop on the wasm heap (faster, and breaks ties as the cpu backend does)');
    const backend = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
    const x = tf.tensor([1.5, -2, 3]);
    const copy = tf.clone(x);
    expect(backend.dataIdMap.get(copy.dataId).memoryOffset).toBe(backend.dataIdMap.get(x.dataId).memoryOffset);
    x.dispose(); // the data lives on while the clone holds it
    expect(Array.from(copy.dataSync())).toEqual([1.5, -2, 3]);
    const before = tf.memory().numBytes;
    copy.dispose();
    expect(tf.memory().numBytes).toBe(before - 12);
    const strings = tf.clone(tf.tensor(['a', 'bc']));
    expect(strings.dataSync()).toEqual(['a', 'bc']);
    // A variable assigned a new value leaves an earlier clone of it untouched.
    const variable = tf.variable(tf.tensor([1, 2]));
    const saved = tf.clone(variable);
    variable.assign(tf.tensor([5, 6]));
    expect(Array.from(saved.dataSync())).toEqual([1, 2]);
    tf.dispose([strings, variable, saved]);
  });
});

describe('Conv2DBackpropFilter on wasm', () => {
  const cases: [string, ConvCase][] = [
    ['CI=1, batch 1, same', { x: [1, 5, 5, 1], filter: [3, 3, 1, 2], strides: 1, pad: 'same' }],
    ['3x2 kernel, valid', { x: [2, 7, 5, 3], filter: [3, 2, 3, 4], strides: 1, pad: 'valid' }],
    ['stride 2, same, odd sizes', { x: [3, 9, 7, 2], filter: [3, 3, 2, 3], strides: 2, pad: 'same' }],
    ['stride 2, pad 1', { x: [2, 6, 7, 3], filter: [2, 3, 3, 2], strides: 2, pad: 1 }],
    ['strides [2,1], valid, 2x3 kernel', { x: [2, 8, 9, 2], filter: [2, 3, 2, 3], strides: [2, 1], pad: 'valid' }],
    ['stride 2, pad 0, floor rounding', { x: [1, 8, 8, 2], filter: [3, 3, 2, 2], strides: 2, pad: 0, roundingMode: 'floor' }],
    [
      'explicit asymmetric padding',
      {
        x: [2, 5, 6, 2],
        filter: [3, 3, 2, 2],
        strides: 1,
        pad: [
          [0, 0],
          [1, 0],
          [0, 2],
          [0, 0],
        ],
      },
    ],
    ['CO=1, 1x1 kernel', { x: [2, 4, 5, 3], filter: [1, 1, 3, 1], strides: 1, pad: 'valid' }],
  ];
  for (const [name, c] of cases) {
    it(`matches the cpu backend: ${name}`, async () => {
      const wasm = await on('wasm', () => filterGradient(c));
      const cpu = await on('cpu', () => filterGradient(c));
      expect(wasm.length).toBe(sizeOf(c.filter));
      expectClose(wasm, cpu);
    });
  }

  it('works in chunks on a batch whose im2col matrix exceeds its budget (checked against a direct sum)', () => {
    // One 250x250x16 image, 3x3, gives a 144 x 62500 im2col block (9M floats), over half the 16M budget,
    // so each of the 3 images is its own chunk.
    const [n, h, w, ci, co] = [3, 250, 250, 16, 2];
    const xv = values(n * h * w * ci, 11);
    const dyv = values(n * h * w * co, 12);
    const got = read(() => {
      const x = tf.tensor4d(xv, [n, h, w, ci]);
      const dy = tf.tensor4d(dyv, [n, h, w, co]);
      return tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: [1, 1],
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape: [3, 3, ci, co],
        },
      ) as tf.Tensor;
    });
    // Direct definition (the filter only matters for dx, which this test does not check).
    const want = sameConv3x3Gradients([n, h, w, ci, co], xv, new Float32Array(9 * ci * co), dyv).dFilter;
    expectClose(got, want);
  });

  it('frees every intermediate it allocates', () => {
    const x = tf.tensor4d(values(2 * 6 * 6 * 3, 4), [2, 6, 6, 3]);
    const dy = tf.tensor4d(values(2 * 6 * 6 * 4, 5), [2, 6, 6, 4]);
    const backend = tf.backend();
    const tensorsBefore = tf.memory().numTensors;
    const dataBefore = backend.numDataIds();
    const dW = tf.engine().runKernel(
      'Conv2DBackpropFilter',
      { x, dy },
      {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [3, 3, 3, 4],
      },
    ) as tf.Tensor;
    expect(dW.shape).toEqual([3, 3, 3, 4]);
    expect(tf.memory().numTensors).toBe(tensorsBefore + 1);
    expect(backend.numDataIds()).toBe(dataBefore + 1);
    tf.dispose([x, dy, dW]);
  });

  it('rejects NCHW data with a clear error', () => {
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 2, 3, 3]);
    expect(() =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: 1,
          pad: 'valid',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 2, 2],
        },
      ),
    ).toThrow(/supports only NHWC/);
    tf.dispose([x, dy]);
  });
});

describe('training a small CNN on wasm', () => {
  function buildModel(): tf.Sequential {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 3, kernelSize: [3, 2], strides: 1, activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const weights = model.getWeights().map((w, i) => tf.tensor(values(w.size, 100 + i), w.shape));
    model.setWeights(weights);
    tf.dispose(weights);
    return model;
  }

  const batch = 5;
  const xs = values(batch * 9 * 9 * 2, 7);
  const labels = [0, 2, 1, 1, 0];

  /** Gradients of the loss for every weight, then the loss and weights after one SGD step of trainOnBatch. */
  async function trainingStep(): Promise<{ grads: Float32Array[]; loss: number; after: Float32Array[] }> {
    const model = buildModel();
    const x = tf.tensor4d(xs, [batch, 9, 9, 2]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.metrics.categoricalCrossentropy(y, model.apply(x) as tf.Tensor)) as tf.Scalar,
      variables,
    );
    const gradValues = variables.map((v) => grads[v.name].dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(grads)]);
    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    const loss = (await model.trainOnBatch(x, y)) as number;
    const after = model.getWeights().map((w) => w.dataSync() as Float32Array);
    model.dispose();
    tf.dispose([x, y]);
    return { grads: gradValues, loss, after };
  }

  it('gives the same gradients, loss and updated weights as the cpu backend', async () => {
    const wasm = await on('wasm', trainingStep);
    const cpu = await on('cpu', trainingStep);
    expect(wasm.grads.length).toBe(6); // 2 conv kernels + biases, dense kernel + bias
    wasm.grads.forEach((g, i) => expectClose(g, cpu.grads[i]));
    expect(wasm.loss).toBeGreaterThan(0);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5 * Math.max(1, cpu.loss));
    wasm.after.forEach((w, i) => expectClose(w, cpu.after[i]));
  });
});

describe('other kernels wasm lacked', () => {
  it('UnsortedSegmentSum (the gradient of gather) matches the cpu backend, dropping out-of-range ids', async () => {
    const ids = [3, 0, 3, -1, 1, 5, 0];
    const sum = (dtype: 'float32' | 'int32') =>
      read(() => {
        const x =
          dtype === 'float32'
            ? tf.tensor2d(values(7 * 3, 21), [7, 3])
            : tf.tensor2d(
                Int32Array.from({ length: 21 }, (_, i) => i * 3 - 10),
                [7, 3],
                'int32',
              );
        return tf.unsortedSegmentSum(x, tf.tensor1d(ids, 'int32'), 5);
      });
    for (const dtype of ['float32', 'int32'] as const) {
      const wasm = await on('wasm', () => sum(dtype));
      const cpu = await on('cpu', () => sum(dtype));
      expect(wasm.length).toBe(5 * 3);
      expectClose(wasm, cpu, 0);
    }
    const gatherGrad = () =>
      read(() => {
        const params = tf.tensor2d(values(6 * 4, 22), [6, 4]);
        const indices = tf.tensor1d([5, 1, 1, 0, 5, 5], 'int32');
        const weights = tf.tensor2d(values(6 * 4, 23), [6, 4]);
        return tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, indices), weights)))(params);
      });
    expectClose(await on('wasm', gatherGrad), await on('cpu', gatherGrad));
  });

  it('depthwise conv gradients match the cpu backend', async () => {
    const cases: [number[], number[], number | [number, number], 'same' | 'valid'][] = [
      [[2, 7, 6, 3], [3, 3, 3, 1], 1, 'same'],
      [[1, 9, 8, 2], [3, 2, 2, 3], 2, 'valid'],
      [[2, 6, 7, 4], [2, 3, 4, 2], [2, 1], 'same'],
    ];
    for (const [xShape, fShape, strides, pad] of cases) {
      const grads = () => {
        const x = tf.tensor4d(values(sizeOf(xShape), 31), xShape as [number, number, number, number]);
        const f = tf.tensor4d(values(sizeOf(fShape), 32), fShape as [number, number, number, number]);
        const conv = (a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad);
        const outShape = conv(x, f).shape;
        const dy = tf.tensor(values(sizeOf(outShape), 33), outShape);
        const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), dy)))([x, f]);
        const result = [dx.dataSync(), df.dataSync()] as Float32Array[];
        tf.dispose([x, f, dy, dx, df]);
        return result;
      };
      const [wasmDx, wasmDf] = await on('wasm', grads);
      const [cpuDx, cpuDf] = await on('cpu', grads);
      expect(wasmDx.length).toBe(sizeOf(xShape));
      expectClose(wasmDx, cpuDx);
      expectClose(wasmDf, cpuDf);
    }
  });

  it("bridges Einsum (array inputs) to the cpu backend's kernel, warning once, leaking nothing", async () => {
    const einsum = () => read(() => tf.einsum('ij,jk->ik', tf.tensor2d(values(12, 41), [3, 4]), tf.tensor2d(values(8, 42), [4, 2])));
    const cpuBackend = tf.engine().findBackend('cpu');
    const cpuDataBefore = cpuBackend.numDataIds();
    const warn = vi.spyOn(console, 'warn');
    const first = await on('wasm', einsum);
    const second = await on('wasm', einsum);
    const messages = warn.mock.calls.map((call) => String(call[0])).filter((m) => m.includes('Einsum'));
    expect(messages).toEqual(["tfjs-distill: the wasm backend lacks Einsum; running the cpu backend's version (slower)"]);
    expect(cpuBackend.numDataIds()).toBe(cpuDataBefore);
    const cpu = await on('cpu', einsum);
    expect(first.length).toBe(6);
    expectClose(first, cpu);
    expect(Array.from(second)).toEqual(Array.from(first));
  });

  it('bridges a kernel with several outputs (RaggedRange) and one on strings (StaticRegexReplace)', async () => {
    const ragged = async () => {
      const { rtNestedSplits, rtDenseValues } = tf.raggedRange([0, 5, 8], [3, 5, 12], [1, 1, 2]);
      const result = [Array.from(rtNestedSplits.dataSync()), Array.from(rtDenseValues.dataSync())];
      tf.dispose([rtNestedSplits, rtDenseValues]);
      return result;
    };
    const wasm = await on('wasm', ragged);
    expect(wasm).toEqual([
      [0, 3, 3, 5],
      [0, 1, 2, 8, 10],
    ]);
    expect(await on('cpu', ragged)).toEqual(wasm);

    const replaced = tf.string.staticRegexReplace(tf.tensor1d(['a-b-c', 'no dash', 'x-'], 'string'), '-', '+');
    expect(replaced.dtype).toBe('string');
    expect(replaced.arraySync()).toEqual(['a+b+c', 'no dash', 'x+']);
    replaced.dispose();
  });
});
