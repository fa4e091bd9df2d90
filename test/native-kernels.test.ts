import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type KernelChoice, selectWasmKernels } from '../dist/kernels/kernel-choice.js';
import { checkWasmInternals, copyTensorInto, floatOffset, heapBuffer } from '../dist/kernels/wasm-heap.js';
import { mulberry32 } from '../dist/random.js';
import { onWasmWithKernels, requiredBlas } from './helpers/native-blas.js';
import { sameConv3x3Gradients } from './fixtures/conv-reference.js';

// Every kernel is checked against the cpu backend, under both kernel sets: `openblas` (the native addon)
// and `wasm` (the backend's own, transposed matMuls materialised first). CI installs OpenBLAS and sets
// TFJS_DISTILL_REQUIRE_OPENBLAS, so there a missing addon fails instead of skipping.

const blas = requiredBlas();
const NATIVE = 'blas' in blas;
const KERNEL_SETS: ('openblas' | 'wasm')[] = NATIVE ? ['openblas', 'wasm'] : ['wasm'];

onWasmWithKernels();

function values(size: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: size }, () => random() * 2 - 1);
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `f` on `backend` (with the wasm `kernels` selected) and returns the values of what it returns. */
async function run(backend: 'wasm' | 'cpu', kernels: KernelChoice, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  try {
    if (backend === 'wasm') expect(selectWasmKernels(kernels, tf.backend() as BackendWasm).kernels).toBe(kernels);
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => t.dataSync() as Float32Array);
    tf.dispose(list);
    return data;
  } finally {
    await tf.setBackend('wasm');
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  expect(scale).toBeGreaterThan(0);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(rtol * scale);
}

/** Both operands broadcast to the output's batch dims explicitly, so the reference needs no broadcasting. */
function broadcastOperands(aShape: number[], bShape: number[], seed: number): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
  const a = tf.tensor(values(sizeOf(aShape), seed), aShape);
  const b = tf.tensor(values(sizeOf(bShape), seed + 1), bShape);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  return [a, b, tf.broadcastTo(a, [...outer, ...aShape.slice(-2)]), tf.broadcastTo(b, [...outer, ...bShape.slice(-2)])];
}

describe('tfjs internals the native kernels rely on', () => {
  it('are where tfjs-backend-wasm 4.22.0 keeps them (heap, dataIdMap, makeOutput)', () => {
    // If this fails after a tfjs upgrade, the message names what changed; the kernels need reworking.
    expect(tf.version_core).toBe('4.22.0');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.dependencies['@tensorflow/tfjs-backend-wasm']).toBe('4.22.0'); // pinned exactly
    expect(() => checkWasmInternals(tf.backend() as BackendWasm)).not.toThrow();
  });

  it('a changed internal is reported by name', () => {
    const backend = tf.backend() as BackendWasm;
    // As if an upgrade renamed memoryOffset (the probe's 12 bytes are then not freed: free(undefined) is free(0)).
    const renamed = Object.create(backend.dataIdMap, {
      get: { value: (id: object) => ({ ...backend.dataIdMap.get(id)!, memoryOffset: undefined }) },
    });
    const moved = Object.create(backend, { dataIdMap: { value: renamed } });
    expect(() => checkWasmInternals(moved)).toThrow(
      /internals changed \(dataIdMap entries have no float-aligned memoryOffset\).*set kernels 'wasm'/,
    );
    const noHeap = Object.create(backend, { wasm: { value: {} } });
    expect(() => checkWasmInternals(noHeap)).toThrow(/internals changed \(BackendWasm\.wasm\.HEAPU8\.buffer is not an ArrayBuffer\)/);
  });
});

describe('tensors outside the wasm heap', () => {
  it.runIf(NATIVE)('a heap taken before the wasm memory grew is refused by the addon, not read; the live heap gives the sums', () => {
    const addon = (blas as { blas: { sumLeadingAxes(...args: unknown[]): void } }).blas;
    const backend = tf.backend() as BackendWasm;
    const xv = values(6 * 5, 70);
    const x = tf.tensor2d(xv, [6, 5]);
    const out = tf.zeros([5]);
    const stale = heapBuffer(backend);
    const [xAt, outAt] = [floatOffset(backend, x), floatOffset(backend, out)];
    // More floats than the whole heap holds: the wasm memory must grow, which detaches `stale`.
    const grow = tf.zeros([stale.byteLength / 4]);
    try {
      expect(stale.byteLength).toBe(0);
      expect(() => addon.sumLeadingAxes(stale, xAt, 6, 5, outAt)).toThrow(
        /^tfjs-distill native: sumLeadingAxes xOffset: 30 floats lie outside the wasm heap of 0 floats$/,
      );
      expect(Array.from(out.dataSync())).toEqual([0, 0, 0, 0, 0]); // nothing was written
      addon.sumLeadingAxes(heapBuffer(backend), xAt, 6, 5, outAt);
      const want = Array.from({ length: 5 }, (_, j) => Array.from({ length: 6 }, (_, i) => xv[i * 5 + j]).reduce((a, b) => a + b));
      expectClose(out.dataSync(), want);
    } finally {
      tf.dispose([x, out, grow]);
    }
  });

  it('copyTensorInto: a tensor on the heap is read in place; one on the cpu backend, or int32, arrives through tfjs', async () => {
    const want = values(12, 71);
    const copied = (t: tf.Tensor) => {
      const target = new Float32Array(16).fill(-7);
      copyTensorInto(t, target, 2);
      return Array.from(target);
    };
    const expected = [-7, -7, ...want, -7, -7];
    await tf.setBackend('cpu');
    const onCpu = tf.tensor(want, [3, 4]);
    try {
      expect(copied(onCpu)).toEqual(expected); // cpu active: dataSync
      await tf.setBackend('wasm');
      const backend = tf.backend() as BackendWasm;
      expect(backend.dataIdMap.has(onCpu.dataId)).toBe(false); // not on the wasm heap...
      expect(copied(onCpu)).toEqual(expected); // ...until tfjs moves it there when its offset is asked for
      expect(backend.dataIdMap.has(onCpu.dataId)).toBe(true);
      const onWasm = tf.tensor(want, [3, 4]);
      const ints = tf.tensor([3, -1, 4], [3], 'int32');
      expect(copied(onWasm)).toEqual(expected);
      expect(copied(ints).slice(0, 6)).toEqual([-7, -7, 3, -1, 4, -7]);
      tf.dispose([onWasm, ints]);
    } finally {
      onCpu.dispose();
      await tf.setBackend('wasm');
    }
  });
});

describe.runIf(NATIVE)('the openblas kernel set', () => {
  it('replaces the matMul, conv, max-pool, Sum, Cast, Add, GatherV2, UnsortedSegmentSum and Equal kernels, and the wasm set restores the originals', () => {
    const backend = tf.backend() as BackendWasm;
    const names = [
      'BatchMatMul',
      '_FusedMatMul',
      'Conv2D',
      'FusedConv2D',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'MaxPool',
      'MaxPoolGrad',
      'Sum',
      'Cast',
      'Add',
      'GatherV2',
      'UnsortedSegmentSum',
      'Equal',
    ];
    const current = () => names.map((name) => tf.getKernel(name, 'wasm')!.kernelFunc);
    selectWasmKernels('wasm', backend);
    const wasmSet = current();
    expect(selectWasmKernels('openblas', backend)).toEqual({
      kernels: 'openblas',
      notice: expect.stringMatching(
        /^wasm backend: BatchMatMul, _FusedMatMul, .* run in tfjs-distill's native addon, on OpenBLAS \(libopenblas.*, 1 thread per worker\)$/,
      ),
    });
    current().forEach((f, i) => expect(f, names[i]).not.toBe(wasmSet[i]));
    selectWasmKernels('wasm', backend);
    current().forEach((f, i) => expect(f, names[i]).toBe(wasmSet[i]));
  });

  it('computes true batch broadcasting ([2,1] x [3] batches), which the stock kernels get wrong', async () => {
    const [got] = await run('wasm', 'openblas', () => {
      const [a, b] = broadcastOperands([2, 1, 3, 4], [3, 4, 5], 1);
      return tf.matMul(a, b);
    });
    const [want] = await run('cpu', 'auto', () => {
      const [, , a, b] = broadcastOperands([2, 1, 3, 4], [3, 4, 5], 1);
      return tf.matMul(a, b);
    });
    expect(got.length).toBe(2 * 3 * 3 * 5);
    expectClose(got, want);
  });

  it('delegates what it does not cover: NCHW filter gradients reach the JS kernel and its error', async () => {
    await run('wasm', 'openblas', () => tf.zeros([1]));
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 2, 3, 3]);
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] };
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never)).toThrow(/supports only NHWC/);
    tf.dispose([x, dy]);
  });
});

for (const kernels of KERNEL_SETS) {
  describe(`${kernels} kernels match the cpu backend`, () => {
    const matMuls: [number[], number[]][] = [
      [
        [7, 5],
        [5, 6],
      ],
      [
        [1, 9],
        [9, 1],
      ],
      [
        [3, 7, 5],
        [3, 5, 6],
      ],
      [
        [1, 7, 5],
        [4, 5, 6],
      ], // batch 1 against batch 4
      [
        [4, 7, 5],
        [5, 6],
      ], // rank 3 against rank 2
      [
        [2, 3, 4, 5],
        [2, 3, 5, 2],
      ],
    ];
    it('BatchMatMul: shapes x transposes x batch broadcasts', async () => {
      for (const [aShape, bShape] of matMuls) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s.at(-1)!, s.at(-2)!] : s);
            const shapes: [number[], number[]] = [swap(aShape, transposeA), swap(bShape, transposeB)];
            const [got] = await run('wasm', kernels, () => {
              const [a, b] = broadcastOperands(...shapes, 3);
              return tf.matMul(a, b, transposeA, transposeB);
            });
            const [want] = await run('cpu', 'auto', () => {
              const [, , a, b] = broadcastOperands(...shapes, 3);
              return tf.matMul(a, b, transposeA, transposeB);
            });
            expectClose(got, want);
          }
        }
      }
    });

    it('BatchMatMul: many tiny products (a masked mean over tokens and its gradient), each transpose', async () => {
      // Batches of 8 or more products of at most 8,192 multiply-adds with B untransposed take the addon's
      // plain loop instead of sgemm; the others keep sgemm. Both against the cpu backend, broadcast B too.
      const products: [number[], number[]][] = [
        [
          [128, 1, 96],
          [128, 96, 24],
        ], // a row of weights over the tokens against each sample's embedded tokens
        [
          [12, 40, 1],
          [12, 1, 24],
        ], // outer products: the table's gradient
        [
          [16, 3, 20],
          [20, 5],
        ], // B broadcast over the batch
        [
          [9, 64, 64],
          [9, 64, 64],
        ], // too large a product for the loop: sgemm
      ];
      for (const [aShape, bShape] of products) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s.at(-1)!, s.at(-2)!] : s);
            const shapes: [number[], number[]] = [swap(aShape, transposeA), swap(bShape, transposeB)];
            const [got] = await run('wasm', kernels, () => {
              const [a, b] = broadcastOperands(...shapes, 5);
              return tf.matMul(a, b, transposeA, transposeB);
            });
            const [want] = await run('cpu', 'auto', () => {
              const [, , a, b] = broadcastOperands(...shapes, 5);
              return tf.matMul(a, b, transposeA, transposeB);
            });
            expectClose(got, want);
          }
        }
      }
    });

    it('_FusedMatMul: bias shapes, every fusable activation, transposes', async () => {
      const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const;
      const biasShapes = [[6], [1], [1, 6]];
      for (const activation of activations) {
        for (const biasShape of biasShapes) {
          for (const [transposeA, transposeB] of [
            [false, false],
            [true, false],
            [false, true],
          ]) {
            const fused = () => {
              const a = tf.tensor(values(7 * 5, 5), transposeA ? [5, 7] : [7, 5]);
              const b = tf.tensor(values(5 * 6, 6), transposeB ? [6, 5] : [5, 6]);
              // Positive, so that a size-1 bias leaves some outputs above 0; large enough for relu6 to clip.
              const bias = tf.mul(tf.abs(tf.tensor(values(sizeOf(biasShape), 7), biasShape)), 4);
              const preluActivationWeights = activation === 'prelu' ? tf.tensor(values(6, 8), [6]) : undefined;
              return tf.fused.matMul({
                a: tf.mul(a, 3),
                b,
                transposeA,
                transposeB,
                bias,
                activation,
                preluActivationWeights,
                leakyreluAlpha: 0.3,
              });
            };
            // tfjs-backend-wasm's own kernel takes only a bias of shape [N] (rank 2 throws, [1] reads past
            // it: a stock bug the openblas kernel does not have); the other shapes are the openblas set's.
            if (kernels === 'wasm' && biasShape[0] !== 6) continue;
            const [got] = await run('wasm', kernels, fused);
            const [want] = await run('cpu', 'auto', fused);
            expectClose(got, want);
          }
        }
      }
    });

    type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
    const convs: [string, number[], number[], number | [number, number], Pad, number | [number, number]][] = [
      ['3x3 same', [2, 7, 6, 3], [3, 3, 3, 4], 1, 'same', 1],
      ['3x2 valid, stride 2', [2, 9, 7, 2], [3, 2, 2, 3], 2, 'valid', 1],
      ['strides [2,1], same', [3, 8, 9, 2], [3, 3, 2, 2], [2, 1], 'same', 1],
      [
        'explicit padding',
        [2, 5, 6, 2],
        [3, 3, 2, 3],
        1,
        [
          [0, 0],
          [1, 0],
          [0, 2],
          [0, 0],
        ],
        1,
      ],
      ['pad 1, stride 2', [1, 6, 7, 3], [2, 3, 3, 2], 2, 1, 1],
      ['1x1 pointwise', [2, 4, 5, 3], [1, 1, 3, 4], 1, 'valid', 1],
      ['dilation 2, same', [2, 9, 8, 2], [3, 3, 2, 3], 1, 'same', 2],
      ['dilation [2,1], valid', [1, 9, 8, 3], [2, 3, 3, 2], 1, 'valid', [2, 1]],
      ['one input channel, 3x3 same', [3, 8, 7, 1], [3, 3, 1, 5], 1, 'same', 1],
      ['one input channel, valid, stride 2, batch 1', [1, 9, 8, 1], [3, 3, 1, 4], 2, 'valid', 1],
    ];
    it('MaxPoolGrad: exactly the cpu backend, ties, padding and overlapping windows included', async () => {
      // Small integers repeat within windows, so ties are common: the first maximum in row-major order wins.
      const random = mulberry32(41);
      const x = Float32Array.from({ length: 3 * 9 * 8 * 5 }, () => Math.floor(random() * 4));
      const cases: [number | [number, number], number | [number, number], 'same' | 'valid'][] = [
        [2, 2, 'valid'],
        [3, 2, 'same'],
        [3, 1, 'valid'],
        [[3, 2], [1, 2], 'same'],
      ];
      for (const [size, stride, pad] of cases) {
        const gradient = () =>
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, size, stride, pad), 1.5)))(tf.tensor4d(x, [3, 9, 8, 5]));
        const [got] = await run('wasm', kernels, gradient);
        const [want] = await run('cpu', 'auto', gradient);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    });

    it('Sum: over leading axes (bias gradients), keepDims, and the reductions it hands on', async () => {
      const cases: [number[], number[] | number | undefined, boolean, 'float32' | 'int32'][] = [
        [[6, 5, 4, 3], [0, 1, 2], false, 'float32'], // a conv bias gradient
        [[33, 17], [0], false, 'float32'], // a dense bias gradient
        [[6, 5, 4, 3], [1, 0], true, 'float32'],
        [[6, 5, 4, 3], [-4, -3], false, 'float32'],
        [[6, 5, 4, 3], [1, 2], false, 'float32'], // not leading: handed on
        [[6, 5, 4, 3], undefined, false, 'float32'], // every axis: handed on
        [[7, 4], [0], false, 'int32'], // int32: handed on
      ];
      for (const [shape, axis, keepDims, dtype] of cases) {
        const size = sizeOf(shape);
        const sum = () =>
          tf.sum(
            dtype === 'int32'
              ? tf.tensor(
                  Int32Array.from({ length: size }, (_, i) => ((i * 7) % 11) - 5),
                  shape,
                  'int32',
                )
              : tf.tensor(values(size, 9), shape),
            axis,
            keepDims,
          );
        const [got] = await run('wasm', kernels, sum);
        const [want] = await run('cpu', 'auto', sum);
        expectClose(got, want);
      }
      const [shape] = await run('wasm', kernels, () => tf.tensor1d(tf.sum(tf.ones([6, 5, 4, 3]), [1, 0], true).shape));
      expect(Array.from(shape)).toEqual([1, 1, 4, 3]);
    });

    it('GatherV2 and UnsortedSegmentSum: an embedding forward exactly, its gradient as a float32 sum in id order, and the cases they hand on', async () => {
      const gathers: [number[], 'float32' | 'int32', number[], number[], number][] = [
        [[9, 5], 'float32', [3, 4], [8, 0, 0, 3, 1, 8, 2, 5, 4, 4, 0, 1], 0], // an embedding of 2-D ids
        [[9], 'int32', [4], [8, 0, 3, 3], 0], // rows of one value
        [[3, 9, 2], 'float32', [4], [8, 0, 3, 3], 1], // an inner axis: handed on
        [[4, 3], 'float32', [0], [], 0], // no ids
      ];
      for (const [shape, dtype, idShape, ids, axis] of gathers) {
        const size = sizeOf(shape);
        const gather = () => {
          const table =
            dtype === 'int32'
              ? tf.tensor(
                  Int32Array.from({ length: size }, (_, i) => i * 3 - 7),
                  shape,
                  'int32',
                )
              : tf.tensor(values(size, 4), shape);
          return tf.cast(tf.gather(table, tf.tensor(ids, idShape, 'int32'), axis), 'float32');
        };
        const [got] = await run('wasm', kernels, gather);
        const [want] = await run('cpu', 'auto', gather);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
      const sums: [number[], number[], number][] = [
        [[7, 3], [3, 0, 3, -1, 1, 5, 0], 5], // out-of-range ids dropped
        [[8, 3, 2], [1, 1, 0, 1, 7, 7, 0, 1], 8], // rows of several axes
      ];
      for (const [shape, ids, segments] of sums) {
        const sum = () => tf.unsortedSegmentSum(tf.tensor(values(sizeOf(shape), 6), shape), tf.tensor1d(ids, 'int32'), segments);
        const [got] = await run('wasm', kernels, sum);
        const [want] = await run('cpu', 'auto', sum);
        expectClose(got, want); // the cpu backend adds three or more rows in another order
        // Exactly a float32 sum of the rows in id order, as both sets' loops add them.
        const x = values(sizeOf(shape), 6);
        const row = sizeOf(shape.slice(1));
        const direct = new Float32Array(segments * row);
        ids.forEach((id, i) => {
          if (id >= 0 && id < segments) for (let j = 0; j < row; j++) direct[id * row + j] += x[i * row + j];
        });
        expect(Array.from(got)).toEqual(Array.from(direct));
      }
      const embeddingGrad = () => {
        const table = tf.tensor2d(values(50 * 8, 7), [50, 8]);
        const ids = tf.tensor2d(
          Int32Array.from({ length: 6 * 20 }, (_, i) => (i * 37) % 50),
          [6, 20],
          'int32',
        );
        const weights = tf.tensor3d(values(6 * 20 * 8, 8), [6, 20, 8]);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), weights)))(table);
      };
      const [got] = await run('wasm', kernels, embeddingGrad);
      const [want] = await run('cpu', 'auto', embeddingGrad);
      expectClose(got, want);
      await tf.setBackend('wasm');
      selectWasmKernels(kernels, tf.backend() as BackendWasm);
      const table = tf.tensor2d(values(6, 1), [3, 2]);
      expect(() => tf.gather(table, tf.tensor1d([0, 3], 'int32'))).toThrow('GatherV2: the index value 3 is not in [0, 2]');
      table.dispose();
    });

    it('Equal: broadcasts of every kind exactly, NaN equal to nothing, the gradient of a max over an axis, and the cases it hands on', async () => {
      const cases: [number[], number[], 'float32' | 'int32'][] = [
        [[5, 7, 4], [5, 1, 4], 'float32'], // a max over an axis, broadcast back
        [[4, 6], [4, 6], 'float32'],
        [[2, 3], [], 'float32'], // a scalar: handed on below rank 1 only when both are scalars
        [[5, 1, 3], [4, 1], 'float32'], // both broadcast
        [[], [], 'float32'], // scalars: handed on
        [[3, 4], [1, 4], 'int32'], // int32: handed on
      ];
      for (const [aShape, bShape, dtype] of cases) {
        const pick = (shape: number[], seed: number) =>
          Float32Array.from(values(sizeOf(shape), seed), (v, i) => (i % 7 === 6 ? Number.NaN : Math.round(v * 2)));
        const equal = () =>
          tf.cast(
            dtype === 'int32'
              ? tf.equal(
                  tf.tensor(
                    Int32Array.from(pick(aShape, 2), (v) => v || 0),
                    aShape,
                    'int32',
                  ),
                  tf.tensor(
                    Int32Array.from(pick(bShape, 3), (v) => v || 0),
                    bShape,
                    'int32',
                  ),
                )
              : tf.equal(tf.tensor(pick(aShape, 2), aShape), tf.tensor(pick(bShape, 3), bShape)),
            'float32',
          );
        const [got] = await run('wasm', kernels, equal);
        const [want] = await run('cpu', 'auto', equal);
        expect(Array.from(got)).toEqual(Array.from(want));
        if (want.length > 4) expect(new Set(want)).toEqual(new Set([0, 1])); // both outcomes are checked
      }
      const maxGrad = () => {
        const x = tf.tensor3d(
          Float32Array.from(values(3 * 9 * 4, 5), (v) => Math.round(v * 3)),
          [3, 9, 4],
        ); // ties
        return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.max(v, 1), tf.tensor2d(values(12, 6), [3, 4]))))(x);
      };
      const [got] = await run('wasm', kernels, maxGrad);
      const [want] = await run('cpu', 'auto', maxGrad);
      expect(Array.from(got)).toEqual(Array.from(want));
    });

    it('Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter: strides, padding, dilation', async () => {
      for (const [, xShape, fShape, strides, pad, dilations] of convs) {
        const dilated = dilations !== 1;
        const conv = () => {
          const x = tf.tensor4d(values(sizeOf(xShape), 11), xShape as [number, number, number, number]);
          const f = tf.tensor4d(values(sizeOf(fShape), 12), fShape as [number, number, number, number]);
          const bias = tf.tensor1d(values(fShape[3], 13));
          const plain = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad, 'NHWC', dilations);
          const y = plain(x, f);
          // elu goes through the epilogue; relu and linear with a [CO] bias (or none) are applied in the conv.
          const fused = (activation: 'elu' | 'relu' | 'linear', withBias = true) =>
            tf.fused.conv2d({ x, filter: f, strides, pad, dilations, bias: withBias ? bias : undefined, activation });
          const outputs = [y, fused('elu'), fused('relu'), fused('linear'), fused('relu', false)];
          if (dilated) return outputs; // tfjs has no conv gradients for dilation > 1
          const dy = tf.tensor(values(y.size, 14), y.shape);
          const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(plain(a, b), dy)))([x, f]);
          return [...outputs, dx, df];
        };
        const got = await run('wasm', kernels, conv);
        const want = await run('cpu', 'auto', conv);
        expect(got.length).toBe(dilated ? 5 : 7);
        got.forEach((g, i) => expectClose(g, want[i]));
      }
    });

    it('MaxPool and MaxPoolGrad of 2x2 pools that tile the input: exactly the cpu backend, ties, -Infinity and NaN', async () => {
      // Channel counts of 5 and 8 cover the four-channel steps and the remainder; small integers make ties.
      for (const shape of [
        [2, 6, 4, 5],
        [1, 4, 8, 8],
        [3, 2, 2, 3],
      ]) {
        const random = mulberry32(43);
        // The stock wasm MaxPool (XNNPACK) lets NaN through where the cpu backend skips it: specials for openblas only.
        const special = kernels === 'openblas' ? [Number.NEGATIVE_INFINITY, Number.NaN] : [];
        const x = Float32Array.from({ length: sizeOf(shape) }, () => {
          const r = random();
          return r < 0.1 && special.length > 0 ? special[Math.floor(r * 20)] : Math.floor(r * 4);
        });
        const pool = () => {
          const input = tf.tensor4d(x, shape as [number, number, number, number]);
          const gradient = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'), 1.5)))(input);
          return [tf.maxPool(input, 2, 2, 'valid'), gradient];
        };
        const got = await run('wasm', kernels, pool);
        const want = await run('cpu', 'auto', pool);
        expect(Array.from(got[0])).toEqual(Array.from(want[0]));
        expect(Array.from(got[1])).toEqual(Array.from(want[1]));
      }
    });

    it('MaxPool of other windows (handed on): odd sizes, padding, overlap', async () => {
      const x = values(2 * 7 * 6 * 3, 44);
      const cases: [number, number, 'same' | 'valid'][] = [
        [2, 2, 'valid'],
        [2, 2, 'same'],
        [3, 2, 'valid'],
        [2, 1, 'valid'],
      ];
      for (const [size, stride, pad] of cases) {
        const pool = () => tf.maxPool(tf.tensor4d(x, [2, 7, 6, 3]), size, stride, pad);
        const [got] = await run('wasm', kernels, pool);
        const [want] = await run('cpu', 'auto', pool);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    });

    it('Add: a bias along trailing axes (either operand), and the adds it hands on', async () => {
      const cases: [number[], number[]][] = [
        [[2, 3, 4, 5], [5]],
        [[5], [2, 3, 4, 5]],
        [
          [2, 3, 4, 5],
          [4, 5],
        ],
        [
          [2, 3, 4, 5],
          [1, 1, 5],
        ],
        [
          [7, 3],
          [1, 3],
        ],
        [
          [2, 3, 4, 5],
          [2, 3, 4, 5],
        ], // equal shapes: handed on
        [
          [2, 3, 4, 5],
          [3, 1, 1],
        ], // not a suffix: handed on
        [
          [4, 5],
          [1, 1, 5],
        ], // more rank than x: handed on
      ];
      for (const [aShape, bShape] of cases) {
        const add = () => tf.add(tf.tensor(values(sizeOf(aShape), 15), aShape), tf.tensor(values(sizeOf(bShape), 16), bShape));
        const [got] = await run('wasm', kernels, add);
        const [want] = await run('cpu', 'auto', add);
        expect(Array.from(got)).toEqual(Array.from(want));
        const [shape] = await run('wasm', kernels, () => tf.tensor1d(add().shape));
        expect(Array.from(shape)).toEqual(tf.broadcast_util.assertAndGetBroadcastShape(aShape, bShape));
      }
      const ints = () => tf.add(tf.tensor([[1, 2, 3]], [1, 3], 'int32'), tf.tensor([10, 20, 30], [3], 'int32'));
      const [got] = await run('wasm', kernels, ints);
      expect(Array.from(got)).toEqual([11, 22, 33]);
    });

    it('Cast: to the same dtype shares the data, which outlives either tensor; to another converts', async () => {
      const [kept, converted] = await run('wasm', kernels, () => {
        const x = tf.tensor([1.5, -2.5, 3], [3]);
        const same = tf.cast(x, 'float32');
        const ints = tf.cast(x, 'int32');
        x.dispose(); // the cast's data must survive its input's disposal
        return [tf.add(same, 0), ints];
      });
      expect(Array.from(kept)).toEqual([1.5, -2.5, 3]);
      expect(Array.from(converted)).toEqual([1, -2, 3]);
    });

    it('conv gradients in chunks, when one im2col block exceeds the budget (checked against a direct sum)', async () => {
      // One 250x250x16 image with a 3x3 filter gives a 62500 x 144 im2col block (9M floats): over the wasm
      // set's 16M budget at two images and the openblas set's at one, so both work in several chunks.
      // (The cpu backend's conv gradients would take ~20 s here.)
      const [n, h, w, ci, co] = [3, 250, 250, 16, 2];
      const xv = values(n * h * w * ci, 61);
      const fv = values(9 * ci * co, 62);
      const dyv = values(n * h * w * co, 63);
      const [dx, df] = await run('wasm', kernels, () => {
        const x = tf.tensor4d(xv, [n, h, w, ci]);
        const f = tf.tensor4d(fv, [3, 3, ci, co]);
        const dy = tf.tensor4d(dyv, [n, h, w, co]);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), dy)))([
          x,
          f,
        ]);
      });
      const want = sameConv3x3Gradients([n, h, w, ci, co], xv, fv, dyv);
      expectClose(dx, want.dx);
      expectClose(df, want.dFilter);
    });

    it('gradients and one training step of a dense and a conv model', async () => {
      const step = (conv: boolean) => () => {
        const layers = conv
          ? [
              tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
              tf.layers.conv2d({ filters: 3, kernelSize: 3, strides: 2, activation: 'elu' }),
              tf.layers.flatten(),
              tf.layers.dense({ units: 3 }),
            ]
          : [
              tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu' }),
              tf.layers.dense({ units: 8, activation: 'sigmoid' }),
              tf.layers.dense({ units: 3 }),
            ];
        const model = tf.sequential({ layers });
        model.setWeights(model.getWeights().map((w, i) => tf.tensor(values(w.size, 40 + i), w.shape)));
        const x = tf.tensor(values(6 * (conv ? 128 : 12), 50), conv ? [6, 8, 8, 2] : [6, 12]);
        const y = tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0, 2], 'int32'), 3);
        const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar, vars);
        tf.train.sgd(0.5).applyGradients(grads);
        const after = model.getWeights().map((w) => w.clone());
        model.dispose();
        return [value, ...vars.map((v) => grads[v.name]), ...after];
      };
      for (const conv of [false, true]) {
        const got = await run('wasm', kernels, step(conv));
        const want = await run('cpu', 'auto', step(conv));
        expect(got.length).toBe(13); // the loss, 6 gradients, 6 updated weights
        got.forEach((g, i) => expectClose(g, want[i], 1e-4));
      }
    });
  });
}

describe.runIf(NATIVE)('openblas kernels in concurrent worker threads', () => {
  // Each worker loads the backend with the openblas kernels and runs matMuls (all transposes), a conv with
  // both gradients and a max pool with its gradient on its own seeded data, many times over, all workers at
  // once; every result must equal the single-threaded cpu reference. A kernel reading another thread's heap
  // or sharing scratch space fails.
  const WORKERS = 3;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const tf = await import('@tensorflow/tfjs');
      await import('@tensorflow/tfjs-backend-wasm');
      tf.env().set('PROD', true);
      const { initBackend } = await import(workerData.dist + '/kernels/backend.js');
      const init = await initBackend(['wasm'], 'openblas');
      const { job } = await import(workerData.job);
      const results = [];
      for (let round = 0; round < 8; round++) results.push(job(tf, workerData.seed));
      parentPort.postMessage({ kernels: init.kernels, results });
    })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
  `;

  it(`${WORKERS} workers computing at once all match the cpu backend`, async () => {
    const dist = new URL('../dist', import.meta.url).pathname;
    const job = new URL('./fixtures/concurrent-job.mjs', import.meta.url).pathname;
    const { job: reference } = await import('./fixtures/concurrent-job.mjs');
    const outputs = await Promise.all(
      Array.from({ length: WORKERS }, (_, rank) => {
        const worker = new Worker(code, { eval: true, workerData: { dist, job, seed: 100 * (rank + 1) } });
        return new Promise<{ kernels?: string; results?: Float32Array[][]; error?: string }>((resolve, reject) => {
          worker.once('message', (m) => {
            resolve(m);
            void worker.terminate();
          });
          worker.once('error', reject);
        });
      }),
    );
    await tf.setBackend('cpu');
    try {
      outputs.forEach((out, rank) => {
        expect(out.error).toBeUndefined();
        expect(out.kernels).toBe('openblas');
        const want = reference(tf, 100 * (rank + 1));
        expect(want.length).toBe(9); // 4 matMuls, conv2d and its 2 gradients, maxPool and its gradient
        expect(out.results!.length).toBe(8);
        for (const round of out.results!) {
          expect(round.length).toBe(want.length);
          round.forEach((r, i) => expectClose(r, want[i]));
        }
      });
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
