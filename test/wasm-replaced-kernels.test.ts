import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerMissingWasmKernels, replaceWasmKernels } from '../dist/kernels/wasm-kernels.js';
import { mulberry32 } from '../dist/random.js';

// tfjs-distill's GatherV2, Equal and Transpose on wasm against two references: the wasm backend's own kernels (captured
// before they are replaced) and the cpu backend's. They only copy, compare or share, so the match is exact.

let stock: { gather: tf.KernelFunc; equal: tf.KernelFunc; transpose: tf.KernelFunc };
let registered: string[] = [];

beforeAll(async () => {
  await tf.setBackend('wasm');
  stock = {
    gather: tf.getKernel('GatherV2', 'wasm')!.kernelFunc,
    equal: tf.getKernel('Equal', 'wasm')!.kernelFunc,
    transpose: tf.getKernel('Transpose', 'wasm')!.kernelFunc,
  };
  registered = [...registerMissingWasmKernels(), ...replaceWasmKernels()];
});

function values(size: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: size }, () => random() * 2 - 1);
}

/** What `kernel` gives on the active wasm backend for these inputs, as plain numbers with its shape. */
function runStock(kernel: tf.KernelFunc, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) {
  const backend = tf.backend();
  const out = kernel({ inputs, attrs, backend } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const data = Array.from(backend.readSync(out.dataId) as ArrayLike<number>);
  backend.disposeData(out.dataId);
  return { shape: out.shape, data };
}

/** `f`'s result on the active backend, as plain numbers with its shape. */
function result(f: () => tf.Tensor) {
  const t = tf.tidy(f);
  const out = { shape: t.shape, data: Array.from(t.dataSync() as ArrayLike<number>) };
  t.dispose();
  return out;
}

async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend('wasm');
  }
}

describe('GatherV2 on wasm', () => {
  const cases: [string, number[], 'float32' | 'int32' | 'bool', number[], number[], number, number][] = [
    ['embedding rows (axis 0), 2-D ids', [7, 5], 'float32', [3, 4], [6, 0, 0, 3, 1, 6, 2, 5, 4, 4, 0, 1], 0, 0],
    ['an inner axis', [2, 6, 3], 'float32', [4], [5, 0, 2, 2], 1, 0],
    ['the last axis, int32', [3, 4], 'int32', [5], [3, 3, 0, 1, 2], 1, 0],
    ['batchDims 1', [2, 5, 3], 'float32', [2, 3], [4, 0, 1, 2, 2, 3], 1, 1],
    ['bool values', [4, 2], 'bool', [3], [3, 1, 3], 0, 0],
    ['no indices', [4, 3], 'float32', [0], [], 0, 0],
  ];
  for (const [name, xShape, dtype, idShape, ids, axis, batchDims] of cases) {
    it(`matches the backend's own and the cpu backend's: ${name}`, async () => {
      const size = xShape.reduce((a, b) => a * b, 1);
      const make = () => {
        const raw = values(size, size);
        const x =
          dtype === 'float32'
            ? tf.tensor(raw, xShape)
            : tf.tensor(
                Int32Array.from(raw, (v) => (dtype === 'bool' ? Number(v > 0) : Math.round(v * 100))),
                xShape,
                dtype,
              );
        return { x, indices: tf.tensor(ids, idShape, 'int32') };
      };
      const ours = result(() => {
        const { x, indices } = make();
        return tf.gather(x, indices, axis, batchDims);
      });
      const { x, indices } = make();
      const own = runStock(stock.gather, { x, indices }, { axis, batchDims });
      tf.dispose([x, indices]);
      const cpu = await onCpu(() =>
        result(() => {
          const { x, indices } = make();
          return tf.gather(x, indices, axis, batchDims);
        }),
      );
      expect(ours.shape).toEqual(cpu.shape);
      expect(ours.data).toEqual(cpu.data);
      // The backend's own disagrees with the cpu backend (and tf.gather's definition) when batchDims > 0.
      if (batchDims === 0) expect(own.data).toEqual(cpu.data);
      else expect(own.data).not.toEqual(cpu.data);
      expect(ours.data.length).toBe(cpu.shape.reduce((a, b) => a * b, 1));
    });
  }

  it('rejects an index outside the axis as the backend does, leaking nothing', () => {
    expect(registered).toContain('GatherV2: JS loop copying whole rows on the wasm heap (faster)');
    const x = tf.tensor2d(values(6, 1), [3, 2]);
    const bad = tf.tensor1d([0, 3], 'int32');
    const before = tf.memory().numBytes;
    expect(() => tf.gather(x, bad)).toThrow('GatherV2: the index value 3 is not in [0, 2]');
    expect(() => tf.gather(x, tf.tensor1d([-1], 'int32'))).toThrow('GatherV2: the index value -1 is not in [0, 2]');
    expect(tf.memory().numBytes).toBeLessThanOrEqual(before + 4); // only the second index tensor, not freed by the test
    tf.dispose([x, bad]);
  });

  it('gives the embedding gradient the cpu backend gives', async () => {
    const grad = () =>
      result(() => {
        const table = tf.tensor2d(values(10 * 4, 3), [10, 4]);
        const ids = tf.tensor2d([9, 1, 1, 0, 9, 9, 3, 2], [2, 4], 'int32');
        const weights = tf.tensor3d(values(2 * 4 * 4, 4), [2, 4, 4]);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), weights)))(table);
      });
    const cpu = await onCpu(grad);
    expect(grad().data).toEqual(cpu.data);
  });
});

describe('Equal on wasm', () => {
  const cases: [string, number[], number[], 'float32' | 'int32'][] = [
    ['a max over an axis, broadcast back', [3, 5, 4], [3, 1, 4], 'float32'],
    ['the same shape', [4, 6], [4, 6], 'float32'],
    ['a scalar', [2, 3], [], 'float32'],
    ['ranks that differ, both broadcasting', [5, 1, 3], [4, 1], 'int32'],
    ['scalars', [], [], 'int32'],
    ['an empty axis', [0, 3], [1, 3], 'float32'],
  ];
  for (const [name, aShape, bShape, dtype] of cases) {
    it(`matches the backend's own and the cpu backend's: ${name}`, async () => {
      const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
      // Few distinct values, so that equal pairs are common; NaN equals nothing, itself included.
      const pick = (n: number, seed: number) =>
        Float32Array.from(values(n, seed), (v, i) => (i % 7 === 6 ? Number.NaN : Math.round(v * 2)));
      const make = () => {
        const a = pick(size(aShape), 8);
        const b = pick(size(bShape), 9);
        if (dtype === 'int32')
          return {
            a: tf.tensor(
              Int32Array.from(a, (v) => v || 0),
              aShape,
              'int32',
            ),
            b: tf.tensor(
              Int32Array.from(b, (v) => v || 0),
              bShape,
              'int32',
            ),
          };
        return { a: tf.tensor(a, aShape), b: tf.tensor(b, bShape) };
      };
      const ours = result(() => {
        const { a, b } = make();
        return tf.equal(a, b);
      });
      const { a, b } = make();
      const own = runStock(stock.equal, { a, b }, {});
      tf.dispose([a, b]);
      const cpu = await onCpu(() =>
        result(() => {
          const { a, b } = make();
          return tf.equal(a, b);
        }),
      );
      expect(ours.shape).toEqual(cpu.shape);
      expect(ours.data).toEqual(cpu.data);
      expect(own.data).toEqual(cpu.data);
      if (cpu.data.length > 4) expect(new Set(cpu.data)).toEqual(new Set([0, 1])); // both outcomes are checked
    });
  }

  it('gives the gradient of a max over an axis that the cpu backend gives (ties included)', async () => {
    expect(registered).toContain('Equal: JS loop on the wasm heap, broadcast by strides (faster)');
    const grad = () =>
      result(() => {
        const x = tf.tensor3d(
          Float32Array.from(values(2 * 6 * 3, 5), (v) => Math.round(v * 3)),
          [2, 6, 3],
        );
        return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.max(v, 1), tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]))))(x);
      });
    const cpu = await onCpu(grad);
    expect(grad().data).toEqual(cpu.data);
  });
});

describe('Transpose on wasm', () => {
  const cases: [string, number[], number[], boolean][] = [
    ['a column [b, n, 1] to [b, 1, n] (a batched dot)', [3, 5, 1], [0, 2, 1], true],
    ['the identity permutation (the gather gradient)', [6, 4], [0, 1], true],
    ['size-1 axes moved around longer ones in order', [1, 4, 1, 3], [2, 1, 0, 3], true],
    ['a real transpose', [3, 5, 2], [0, 2, 1], false],
    ['size-1 axes and a real swap', [1, 4, 3], [2, 0, 1], false],
  ];
  for (const [name, shape, perm, shares] of cases) {
    it(`matches the backend's own and the cpu backend's, sharing data only when no data moves: ${name}`, async () => {
      expect(registered).toContain("Transpose: shares its input's data when only axes of size 1 move");
      const size = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(values(size, size), shape);
      const y = tf.transpose(x, perm);
      const backend = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
      const offset = (t: tf.Tensor) => backend.dataIdMap.get(t.dataId).memoryOffset;
      expect(offset(y) === offset(x)).toBe(shares);
      const ours = { shape: y.shape, data: Array.from(y.dataSync()) };
      const own = runStock(stock.transpose, { x }, { perm });
      x.dispose(); // shared data outlives the input
      expect(Array.from(y.dataSync())).toEqual(ours.data);
      y.dispose();
      const cpu = await onCpu(() => result(() => tf.transpose(tf.tensor(values(size, size), shape), perm)));
      expect(ours.shape).toEqual(cpu.shape);
      expect(ours.data).toEqual(cpu.data);
      expect(own.data).toEqual(cpu.data);
    });
  }

  it('gives the embedding gradient through a batched dot as the cpu backend does', async () => {
    const grad = () =>
      result(() => {
        const table = tf.tensor2d(values(10 * 4, 11), [10, 4]);
        const ids = tf.tensor2d([9, 1, 1, 0, 9, 2, 3, 2], [2, 4], 'int32');
        const column = tf.tensor3d(values(2 * 4, 12), [2, 4, 1]);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.matMul(tf.transpose(column, [0, 2, 1]), tf.gather(t, ids) as tf.Tensor3D)))(table);
      });
    const cpu = await onCpu(grad);
    expect(grad().data).toEqual(cpu.data);
  });
});
