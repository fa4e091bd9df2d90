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

describe.runIf(NATIVE)('the addon refuses arguments that would reach outside its buffers', () => {
  // The addon called directly: each bad size, offset, stride or piece of geometry must throw an error naming
  // it and its valid range, before any memory is touched. One table entry per exported function, so a new
  // function without its cases fails here.
  const HEAP = 4096; // floats
  const MAX32 = 2147483647;
  const heap = () => new ArrayBuffer(HEAP * 4);
  const floats = (n: number) => new Float32Array(n);
  /** `args` with argument `i` replaced by `value`. */
  const swap = (args: unknown[], i: number, value: unknown) => args.map((a, j) => (j === i ? value : a));
  /** `args` with entry `g` of the Int32Array geometry at argument `i` replaced by `value`. */
  const geometry = (args: unknown[], i: number, g: number, value: number) =>
    swap(
      args,
      i,
      Int32Array.from(args[i] as Int32Array, (v, j) => (j === g ? value : v)),
    );
  const range = (fn: string, name: string, value: number, min: number, max: number | string) =>
    new RegExp(`^tfjs-distill native: ${fn} ${name.replace(/[[\]]/g, '\\$&')} is ${value}; it must be in \\[${min}, ${max}\\]$`);
  const outside = (fn: string, name: string, offset: number, count: number) =>
    new RegExp(
      `^tfjs-distill native: ${fn} ${name.replace(/[[\]]/g, '\\$&')} is ${offset}, so ${count} floats there lie outside the wasm heap ` +
        `of ${HEAP} floats; it must be in \\[0, ${HEAP - count}\\]$`,
    );
  const INT64_MAX = '9223372036854775807';
  type Case = [what: string, args: unknown[], error: RegExp];
  const table: Record<string, { valid: () => unknown[]; bad: (valid: unknown[]) => Case[] }> = {
    load: { valid: () => [], bad: () => [] }, // takes no sizes
    gemm: {
      // C[3, 4] = A[3, 5] @ B[5, 4], two batches
      valid: () => [heap(), false, false, 3, 4, 5, Int32Array.of(0, 100), Int32Array.of(200, 300), 400],
      bad: (v) => [
        ['negative m', swap(v, 3, -1), range('gemm', 'm', -1, 0, MAX32)],
        ['negative n', swap(v, 4, -2), range('gemm', 'n', -2, 0, MAX32)],
        ['negative k', swap(v, 5, -3), range('gemm', 'k', -3, 0, MAX32)],
        ['m past int32', swap(v, 3, 2 ** 31), range('gemm', 'm', 2 ** 31, 0, MAX32)],
        ['fractional k', swap(v, 5, 2.5), /^tfjs-distill native kernels: expected an integer, got 2\.5$/],
        ['NaN m', swap(v, 3, Number.NaN), /^tfjs-distill native kernels: expected an integer, got nan$/],
        ['negative aOffset', swap(v, 6, Int32Array.of(0, -1)), outside('gemm', 'aOffsets[i]', -1, 15)],
        ['aOffset past the end', swap(v, 6, Int32Array.of(HEAP - 14, 0)), outside('gemm', 'aOffsets[i]', HEAP - 14, 15)],
        ['bOffset past the end', swap(v, 7, Int32Array.of(0, HEAP - 19)), outside('gemm', 'bOffsets[i]', HEAP - 19, 20)],
        ['cOffset past the end', swap(v, 8, HEAP - 23), outside('gemm', 'cOffset', HEAP - 23, 24)],
        [
          'a heap too small',
          swap(v, 0, new ArrayBuffer(64)),
          /^tfjs-distill native: gemm cOffset: 24 floats lie outside the wasm heap of 16 floats$/,
        ],
        ['offsets of different lengths', swap(v, 7, Int32Array.of(0)), /aOffsets and bOffsets differ in length/],
      ],
    },
    epilogue: {
      // x[4, 6] = prelu(x + bias[6]) with slopes[6]
      valid: () => [heap(), 0, 24, 100, 6, 3, 0.2, 200, 6],
      bad: (v) => [
        ['negative offset', swap(v, 1, -1), outside('epilogue', 'offset', -1, 24)],
        ['negative count', swap(v, 2, -5), /^tfjs-distill native: epilogue offset: -5 floats lie outside the wasm heap of 4096 floats$/],
        ['count past the end', swap(v, 1, HEAP - 23), outside('epilogue', 'offset', HEAP - 23, 24)],
        ['negative biasSize', swap(v, 4, -1), range('epilogue', 'biasSize', -1, 0, INT64_MAX)],
        ['bias past the end', swap(v, 3, HEAP - 5), outside('epilogue', 'biasOffset', HEAP - 5, 6)],
        ['negative preluSize', swap(v, 8, -6), range('epilogue', 'preluSize', -6, 0, INT64_MAX)],
        ['prelu past the end', swap(v, 7, HEAP), outside('epilogue', 'preluOffset', HEAP, 6)],
        ['unknown activation', swap(v, 5, 7), range('epilogue', 'activation', 7, 0, 6)],
        ['negative activation', swap(v, 5, -1), range('epilogue', 'activation', -1, 0, 6)],
      ],
    },
    conv2d: {
      // x[2, 5, 5, 3] * filter[3, 3, 3, 4] -> y[2, 5, 5, 4], stride 1, dilation 1, pad 1 (same)
      // (forward with a bias at 3000 and relu)
      valid: () => [heap(), 0, 0, 1000, 2000, Int32Array.of(2, 5, 5, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1), 3000, true],
      bad: (v) => {
        const names = 'batch inHeight inWidth inChannels outHeight outWidth outChannels filterHeight filterWidth'.split(' ');
        const least = ['strideHeight', 'strideWidth', 'dilationHeight', 'dilationWidth'];
        return [
          ...[...names, ...least, 'padTop', 'padLeft'].map((name, g): Case => {
            const min = least.includes(name) ? 1 : 0;
            return [`${name} ${min - 1}`, geometry(v, 5, g, min - 1), range('conv2d', name, min - 1, min, MAX32)];
          }),
          ['stride -2', geometry(v, 5, 10, -2), range('conv2d', 'strideWidth', -2, 1, MAX32)],
          ['unknown mode', swap(v, 1, 3), range('conv2d', 'mode', 3, 0, 2)],
          ['negative mode', swap(v, 1, -1), range('conv2d', 'mode', -1, 0, 2)],
          ['x past the end', swap(v, 2, HEAP - 149), outside('conv2d', 'xOffset', HEAP - 149, 150)],
          ['negative xOffset', swap(v, 2, -150), outside('conv2d', 'xOffset', -150, 150)],
          ['filter past the end', swap(v, 3, HEAP - 107), outside('conv2d', 'filterOffset', HEAP - 107, 108)],
          ['y past the end', swap(v, 4, HEAP - 199), outside('conv2d', 'yOffset', HEAP - 199, 200)],
          [
            'input grad: x past the end',
            swap(swap(swap(swap(v, 6, -1), 7, false), 1, 1), 2, HEAP - 1),
            outside('conv2d', 'xOffset', HEAP - 1, 150),
          ],
          [
            'filter grad: filter past the end',
            swap(swap(swap(swap(v, 6, -1), 7, false), 1, 2), 3, HEAP - 1),
            outside('conv2d', 'filterOffset', HEAP - 1, 108),
          ],
          [
            'a larger batch than the heap holds',
            geometry(v, 5, 0, 60),
            /^tfjs-distill native: conv2d xOffset: 4500 floats lie outside the wasm heap of 4096 floats$/,
          ],
          [
            'sizes whose product overflows',
            swap(v, 5, Int32Array.of(MAX32, MAX32, MAX32, MAX32, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)),
            /^tfjs-distill native: conv2d x size overflows/,
          ],
          ['14 geometry numbers', swap(v, 5, Int32Array.of(2, 5, 5, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1)), /conv geometry needs 15 numbers/],
          ['geometry as a Float32Array', swap(v, 5, new Float32Array(15)), /expected an Int32Array/],
          ['biasOffset -2', swap(v, 6, -2), range('conv2d', 'biasOffset', -2, -1, INT64_MAX)],
          ['bias past the end', swap(v, 6, HEAP - 3), outside('conv2d', 'biasOffset', HEAP - 3, 4)],
          ['a bias on a gradient', swap(v, 1, 1), /only a forward conv takes a bias or relu/],
          ['relu not a boolean', swap(v, 7, 1), /relu must be a boolean/],
        ];
      },
    },
    maxPoolGrad: {
      // x[2, 6, 6, 3], 2x2 windows, stride 2 -> dy[2, 3, 3, 3]
      valid: () => [heap(), 0, 300, 600, Int32Array.of(2, 6, 6, 3, 3, 3, 2, 2, 2, 2, 0, 0)],
      bad: (v) => {
        const names = 'batch inHeight inWidth channels outHeight outWidth strideHeight strideWidth filterHeight filterWidth padTop padLeft';
        const least = ['channels', 'strideHeight', 'strideWidth', 'filterHeight', 'filterWidth'];
        return [
          ...names.split(' ').map((name, g): Case => {
            const min = least.includes(name) ? 1 : 0;
            return [`${name} ${min - 1}`, geometry(v, 4, g, min - 1), range('maxPoolGrad', name, min - 1, min, MAX32)];
          }),
          ['stride -1', geometry(v, 4, 6, -1), range('maxPoolGrad', 'strideHeight', -1, 1, MAX32)],
          ['x past the end', swap(v, 1, HEAP - 215), outside('maxPoolGrad', 'xOffset', HEAP - 215, 216)],
          ['dy past the end', swap(v, 2, HEAP - 53), outside('maxPoolGrad', 'dyOffset', HEAP - 53, 54)],
          ['dx past the end', swap(v, 3, HEAP - 1), outside('maxPoolGrad', 'dxOffset', HEAP - 1, 216)],
          ['negative dxOffset', swap(v, 3, -2), outside('maxPoolGrad', 'dxOffset', -2, 216)],
          [
            'sizes whose product overflows',
            swap(v, 4, Int32Array.of(MAX32, MAX32, MAX32, MAX32, 1, 1, 1, 1, 1, 1, 0, 0)),
            /^tfjs-distill native: maxPoolGrad x size overflows/,
          ],
          ['11 geometry numbers', swap(v, 4, Int32Array.of(2, 6, 6, 3, 3, 3, 2, 2, 2, 2, 0)), /max pool geometry needs 12 numbers/],
        ];
      },
    },
    maxPool2x2: {
      // x[2, 6, 6, 3] -> y[2, 3, 3, 3]
      valid: () => [heap(), 0, 300, Int32Array.of(2, 6, 6, 3)],
      bad: (v) => [
        ...['batch', 'height', 'width', 'channels'].map((name, g): Case => {
          const min = name === 'channels' ? 1 : 0;
          return [`${name} ${min - 1}`, geometry(v, 3, g, min - 1), range('maxPool2x2', name, min - 1, min, MAX32)];
        }),
        ['odd height', geometry(v, 3, 1, 5), /^tfjs-distill native: maxPool2x2 height and width must be even$/],
        ['x past the end', swap(v, 1, HEAP - 215), outside('maxPool2x2', 'xOffset', HEAP - 215, 216)],
        ['y past the end', swap(v, 2, HEAP - 53), outside('maxPool2x2', 'yOffset', HEAP - 53, 54)],
        ['negative yOffset', swap(v, 2, -1), outside('maxPool2x2', 'yOffset', -1, 54)],
        [
          'sizes whose product overflows',
          swap(v, 3, Int32Array.of(MAX32, MAX32 - 1, MAX32 - 1, MAX32)),
          /^tfjs-distill native: maxPool2x2 x size overflows/,
        ],
        ['3 geometry numbers', swap(v, 3, Int32Array.of(2, 6, 6)), /max pool geometry needs 4 numbers/],
      ],
    },
    biasAdd: {
      // out[4, 6] = x[4, 6] + bias[6]
      valid: () => [heap(), 0, 24, 100, 6, 200],
      bad: (v) => [
        ['negative count', swap(v, 2, -6), range('biasAdd', 'count', -6, 0, INT64_MAX)],
        ['biasSize 0', swap(v, 4, 0), range('biasAdd', 'biasSize', 0, 1, INT64_MAX)],
        ['biasSize not dividing count', swap(v, 4, 5), /^tfjs-distill native: biasAdd biasSize must divide count$/],
        ['x past the end', swap(v, 1, HEAP - 23), outside('biasAdd', 'xOffset', HEAP - 23, 24)],
        ['bias past the end', swap(v, 3, HEAP - 5), outside('biasAdd', 'biasOffset', HEAP - 5, 6)],
        ['out past the end', swap(v, 5, HEAP - 1), outside('biasAdd', 'outOffset', HEAP - 1, 24)],
        ['negative xOffset', swap(v, 1, -24), outside('biasAdd', 'xOffset', -24, 24)],
      ],
    },
    reluGrad: {
      // out[24] = dy[24] * step(x[24])
      valid: () => [heap(), 0, 100, 24, 200],
      bad: (v) => [
        ['negative count', swap(v, 3, -6), range('reluGrad', 'count', -6, 0, INT64_MAX)],
        ['dy past the end', swap(v, 1, HEAP - 23), outside('reluGrad', 'dyOffset', HEAP - 23, 24)],
        ['x past the end', swap(v, 2, HEAP - 1), outside('reluGrad', 'xOffset', HEAP - 1, 24)],
        ['out past the end', swap(v, 4, HEAP - 5), outside('reluGrad', 'outOffset', HEAP - 5, 24)],
        ['negative outOffset', swap(v, 4, -24), outside('reluGrad', 'outOffset', -24, 24)],
      ],
    },
    setThreads: {
      // (1 is what every pool sets unless it runs one worker on more BLAS threads)
      valid: () => [1],
      bad: (v) => [
        ['0 threads', swap(v, 0, 0), range('setThreads', 'threads', 0, 1, 1024)],
        ['negative threads', swap(v, 0, -2), range('setThreads', 'threads', -2, 1, 1024)],
        ['too many threads', swap(v, 0, 1025), range('setThreads', 'threads', 1025, 1, 1024)],
        ['fractional threads', swap(v, 0, 1.5), /^tfjs-distill native kernels: expected an integer, got 1\.5$/],
      ],
    },
    allFinite: {
      valid: () => [floats(10), 0, 10],
      bad: (v) => [
        ['negative lo', swap(v, 1, -1), /^tfjs-distill native: allFinite lo -1, hi 10: range outside the array/],
        ['hi past the array', swap(v, 2, 11), /^tfjs-distill native: allFinite lo 0, hi 11: range outside the array/],
        ['lo above hi', swap(swap(v, 1, 7), 2, 3), /^tfjs-distill native: allFinite lo 7, hi 3: range outside the array/],
      ],
    },
    sumLeadingAxes: {
      // x[6, 5] summed to [5]
      valid: () => [heap(), 0, 6, 5, 100],
      bad: (v) => [
        ['negative outer', swap(v, 2, -1), range('sumLeadingAxes', 'outer', -1, 0, INT64_MAX)],
        ['negative inner', swap(v, 3, -5), range('sumLeadingAxes', 'inner', -5, 0, INT64_MAX)],
        ['x past the end', swap(v, 1, HEAP - 29), outside('sumLeadingAxes', 'xOffset', HEAP - 29, 30)],
        ['out past the end', swap(v, 4, HEAP - 4), outside('sumLeadingAxes', 'outOffset', HEAP - 4, 5)],
        ['negative outOffset', swap(v, 4, -1), outside('sumLeadingAxes', 'outOffset', -1, 5)],
        [
          'sizes whose product overflows',
          swap(swap(v, 2, 2 ** 40), 3, 2 ** 40),
          /^tfjs-distill native: sumLeadingAxes outer x inner overflows/,
        ],
      ],
    },
    equalBroadcast: {
      // a [3, 4] at 0 against b [3, 1] at 100 (broadcast along the last axis), bytes out at 800
      valid: () => [heap(), 0, 100, 800, Int32Array.of(2, 3, 4, 4, 1, 1, 0)],
      bad: (v) => [
        ['rank 0', swap(v, 4, Int32Array.of(0)), range('equalBroadcast', 'rank', 0, 1, 8)],
        ['rank 9', swap(v, 4, Int32Array.of(9)), range('equalBroadcast', 'rank', 9, 1, 8)],
        [
          'a geometry of the wrong length',
          swap(v, 4, Int32Array.of(2, 3, 4, 4, 1, 1)),
          /^tfjs-distill native: equalBroadcast geometry must hold 1 \+ 3 x rank values$/,
        ],
        ['a negative stride', geometry(v, 4, 3, -4), range('equalBroadcast', 'a stride', -4, 0, MAX32)],
        ['a past the end', swap(v, 1, HEAP - 11), outside('equalBroadcast', 'aOffset', HEAP - 11, 12)],
        ['b past the end', swap(v, 2, HEAP - 2), outside('equalBroadcast', 'bOffset', HEAP - 2, 3)],
        [
          'out past the end',
          swap(v, 3, HEAP * 4 - 11),
          new RegExp(
            `^tfjs-distill native: equalBroadcast outByteOffset is ${HEAP * 4 - 11}, so 12 bytes there lie outside the wasm heap of ${HEAP * 4} bytes$`,
          ),
        ],
      ],
    },
    gatherRows: {
      // rows of a table [10, 4] at 0 by 6 ids at 100, into [6, 4] at 200
      valid: () => [heap(), 0, 100, 6, 4, 10, 200],
      bad: (v) => [
        ['negative count', swap(v, 3, -1), range('gatherRows', 'count', -1, 0, MAX32)],
        ['negative row', swap(v, 4, -4), range('gatherRows', 'row', -4, 0, MAX32)],
        ['negative tableRows', swap(v, 5, -10), range('gatherRows', 'tableRows', -10, 0, MAX32)],
        ['table past the end', swap(v, 1, HEAP - 39), outside('gatherRows', 'xOffset', HEAP - 39, 40)],
        ['ids past the end', swap(v, 2, HEAP - 5), outside('gatherRows', 'idsOffset', HEAP - 5, 6)],
        ['out past the end', swap(v, 6, HEAP - 23), outside('gatherRows', 'outOffset', HEAP - 23, 24)],
        [
          'an id past the table',
          swap(v, 0, Int32Array.from({ length: HEAP }, (_, i) => (i === 102 ? 10 : 0)).buffer),
          /^tfjs-distill native: gatherRows id 10 at 2 is outside \[0, 10\)$/,
        ],
      ],
    },
    segmentSumRows: {
      // rows of x [6, 4] at 0 summed by 6 ids at 100 into [10, 4] at 200
      valid: () => [heap(), 0, 100, 6, 4, 10, 200],
      bad: (v) => [
        ['negative count', swap(v, 3, -1), range('segmentSumRows', 'count', -1, 0, MAX32)],
        ['negative numSegments', swap(v, 5, -1), range('segmentSumRows', 'numSegments', -1, 0, MAX32)],
        ['x past the end', swap(v, 1, HEAP - 23), outside('segmentSumRows', 'xOffset', HEAP - 23, 24)],
        ['ids past the end', swap(v, 2, HEAP - 5), outside('segmentSumRows', 'idsOffset', HEAP - 5, 6)],
        ['out past the end', swap(v, 6, HEAP - 39), outside('segmentSumRows', 'outOffset', HEAP - 39, 40)],
      ],
    },
    ...Object.fromEntries(
      (['realTokenMean', 'addRealTokenMeanGradient', 'realTokenRows', 'addRealTokenRowsGradient'] as const).map((fn) => {
        const rows = fn.includes('Rows');
        // a [4, 3] table at 2 of 14 floats; 2 rows of 3 ids; the front [2, 3] (a mean) or [2, 3, 3] (rows)
        const valid = () => [floats(14), 2, 4, 3, Float32Array.of(1, 3, 0, 0, 0, 0), 2, 3, floats(rows ? 18 : 6)];
        const front = `front holds ${rows ? 17 : 5} values, fewer than the ${rows ? 18 : 6} it needs`;
        return [
          fn,
          {
            valid,
            bad: (v: unknown[]): Case[] => [
              ['vocabSize 0', swap(v, 2, 0), range(fn, 'vocabSize', 0, 1, MAX32)],
              ['width 0', swap(v, 3, 0), range(fn, 'width', 0, 1, MAX32)],
              ['negative rows', swap(v, 5, -1), range(fn, 'rows', -1, 0, MAX32)],
              [
                'table past the end',
                swap(v, 1, 3),
                new RegExp(`^tfjs-distill native: ${fn} tableOffset 3: the table's 12 values lie outside the array of 14$`),
              ],
              ['negative tableOffset', swap(v, 1, -1), new RegExp(`^tfjs-distill native: ${fn} tableOffset -1:`)],
              [
                'ids shorter',
                swap(v, 4, floats(5)),
                new RegExp(`^tfjs-distill native: ${fn} ids hold 5 ids, fewer than rows x maxLength$`),
              ],
              ['front shorter', swap(v, 7, floats(rows ? 17 : 5)), new RegExp(`^tfjs-distill native: ${fn} ${front}$`)],
              ['the table not a Float32Array', swap(v, 0, new Float64Array(14)), /^tfjs-distill native: expected a Float32Array$/],
            ],
          },
        ];
      }),
    ),
    ...Object.fromEntries(
      (['denseForward', 'denseBackward'] as const).map((fn) => {
        const backward = fn === 'denseBackward';
        // input [2, 3]; a kernel [3, 4] at 2 and a bias [4] at 15 of 20 floats; out (or dOut) [2, 4]; then, backward,
        // the gradient laid out as the weights, dInput [2, 3], reluInput and the bound
        const layer = [floats(6), 2, 3, floats(20), 2, 15, 4, floats(8)];
        const valid = () => (backward ? [...layer, floats(20), floats(6), true, 2 ** 127] : [...layer, true]);
        const values = backward ? 'dOut' : 'out';
        const array = (name: string, offset: number, count: number, floats: number) =>
          new RegExp(`^tfjs-distill native: ${fn} ${name} ${offset}: ${count} values there lie outside the array of ${floats}$`);
        const cases = (v: unknown[]): Case[] => [
          ['negative rows', swap(v, 1, -1), range(fn, 'rows', -1, 0, MAX32)],
          ['inWidth 0', swap(v, 2, 0), range(fn, 'inWidth', 0, 1, MAX32)],
          ['units 0', swap(v, 6, 0), range(fn, 'units', 0, 1, MAX32)],
          ['kernel past the end', swap(v, 4, 9), array('kernelOffset', 9, 12, 20)],
          ['negative kernelOffset', swap(v, 4, -1), array('kernelOffset', -1, 12, 20)],
          ['bias past the end', swap(v, 5, 17), array('biasOffset', 17, 4, 20)],
          [
            'input shorter',
            swap(v, 0, floats(5)),
            new RegExp(`^tfjs-distill native: ${fn} input holds 5 values, fewer than rows x inWidth$`),
          ],
          [
            `${values} shorter`,
            swap(v, 7, floats(7)),
            new RegExp(`^tfjs-distill native: ${fn} ${values} holds 7 values, fewer than rows x units$`),
          ],
          ['the weights not a Float32Array', swap(v, 3, new Float64Array(20)), /^tfjs-distill native: expected a Float32Array$/],
        ];
        const backwardCases = (v: unknown[]): Case[] => [
          ['grad shorter', swap(v, 8, floats(18)), array('grad biasOffset', 15, 4, 18)],
          [
            'dInput shorter',
            swap(v, 9, floats(5)),
            /^tfjs-distill native: denseBackward dInput holds 5 values, fewer than rows x inWidth$/,
          ],
          ['reluInput not a boolean', swap(v, 10, 1), /^tfjs-distill native: denseBackward's reluInput must be a boolean$/],
        ];
        const forwardCases = (v: unknown[]): Case[] => [
          ['relu not a boolean', swap(v, 8, 1), /^tfjs-distill native: denseForward's relu must be a boolean$/],
        ];
        return [fn, { valid, bad: (v: unknown[]) => [...cases(v), ...(backward ? backwardCases(v) : forwardCases(v))] }];
      }),
    ),
    weightedSum: {
      // 3 ranks' slots of stride 10, the range [0, 10)
      valid: () => [floats(30), 10, Float64Array.of(0.5, 0.5, 0), 0, 10, floats(10)],
      bad: (v) => [
        ['stride 0 (an empty range)', swap(swap(v, 1, 0), 4, 0), range('weightedSum', 'stride', 0, 1, INT64_MAX)],
        ['negative stride', swap(v, 1, -10), range('weightedSum', 'stride', -10, 10, INT64_MAX)],
        ['stride below hi', swap(v, 1, 9), range('weightedSum', 'stride', 9, 10, INT64_MAX)],
        [
          'slots shorter than ranks x stride',
          swap(v, 1, 11),
          /^tfjs-distill native: weightedSum slots smaller than ranks x stride \(30 floats < 3 x 11\)$/,
        ],
        [
          'negative lo',
          swap(v, 3, -1),
          /^tfjs-distill native: weightedSum lo -1, hi 10: range outside the array; it must have 0 <= lo <= hi <= 10$/,
        ],
        ['hi past out', swap(v, 4, 11), /^tfjs-distill native: weightedSum lo 0, hi 11: range outside the array/],
        ['lo above hi', swap(swap(v, 3, 6), 4, 0), /^tfjs-distill native: weightedSum lo 6, hi 0: range outside the array/],
      ],
    },
    adam: {
      valid: () => [floats(10), floats(10), floats(10), floats(10), 0, 10, 0.01, 1, 0.9, 0.999, 1e-8],
      bad: (v) => [
        [
          'negative lo',
          swap(v, 4, -1),
          /^tfjs-distill native: adam lo -1, hi 10: range outside the array; it must have 0 <= lo <= hi <= 10$/,
        ],
        ['hi past the arrays', swap(v, 5, 11), /^tfjs-distill native: adam lo 0, hi 11: range outside the array/],
        ['lo above hi', swap(v, 4, 11), /^tfjs-distill native: adam lo 11, hi 10: range outside the array/],
        [
          'one array shorter',
          swap(v, 2, floats(9)),
          /^tfjs-distill native: adam lo 0, hi 10: range outside the array; it must have 0 <= lo <= hi <= 9$/,
        ],
      ],
    },
    momentum: {
      valid: () => [floats(10), floats(10), floats(10), 0, 10, 0.1, 0.9],
      bad: (v) => [
        ['negative lo', swap(v, 3, -4), /^tfjs-distill native: momentum lo -4, hi 10: range outside the array/],
        ['hi past the arrays', swap(v, 4, 12), /^tfjs-distill native: momentum lo 0, hi 12: range outside the array/],
        [
          'one array shorter',
          swap(v, 1, floats(3)),
          /^tfjs-distill native: momentum lo 0, hi 10: range outside the array; it must have 0 <= lo <= hi <= 3$/,
        ],
      ],
    },
    averagedUpdate: {
      // sgd over [0, 10) of 2 ranks' slots of stride 10
      valid: () => [0, floats(20), 10, Float64Array.of(0.5, 0.5), 0, 10, [floats(10)], 1, Float64Array.of(0.1)],
      bad: (v) => [
        ['an unknown rule', swap(v, 0, 3), range('averagedUpdate', 'rule', 3, 0, 2)],
        ["adam's rule with sgd's state", swap(v, 0, 2), /^tfjs-distill native: averagedUpdate state must be an array of 3 Float32Arrays$/],
        ['a state array of another type', swap(v, 6, [new Float64Array(10)]), /^tfjs-distill native: expected a Float32Array$/],
        [
          'two scalars for sgd',
          swap(v, 8, Float64Array.of(0.1, 0.9)),
          /^tfjs-distill native: averagedUpdate rule 0 takes 1 scalars, got 2$/,
        ],
        [
          'hi past the state',
          swap(swap(v, 5, 11), 2, 11),
          /^tfjs-distill native: averagedUpdate range \[0, 11\) or stride 11 outside the state \(10 floats\) or slots \(20 floats\)$/,
        ],
        [
          'slots shorter than ranks x stride',
          swap(v, 1, floats(19)),
          /^tfjs-distill native: averagedUpdate range \[0, 10\) or stride 10 outside the state \(10 floats\) or slots \(19 floats\)$/,
        ],
      ],
    },
    copyBounded: {
      valid: () => [floats(4), floats(10), 6, 1],
      bad: (v) => [
        ['an offset past the end', swap(v, 2, 7), range('copyBounded', 'offset', 7, 0, 6)],
        ['a negative offset', swap(v, 2, -1), range('copyBounded', 'offset', -1, 0, 6)],
        [
          'a source longer than the target',
          swap(v, 0, floats(11)),
          /^tfjs-distill native: copyBounded source of 11 floats longer than the target of 10$/,
        ],
        ['a target of another type', swap(v, 1, new Float64Array(10)), /^tfjs-distill native: expected a Float32Array$/],
      ],
    },
    sgd: {
      valid: () => [floats(10), floats(10), 0, 10, 0.1],
      bad: (v) => [
        ['negative lo', swap(v, 2, -1), /^tfjs-distill native: sgd lo -1, hi 10: range outside the array/],
        ['hi past the arrays', swap(v, 3, 11), /^tfjs-distill native: sgd lo 0, hi 11: range outside the array/],
        ['fractional hi', swap(v, 3, 9.5), /^tfjs-distill native kernels: expected an integer, got 9\.5$/],
      ],
    },
  };

  it('every exported function has its cases, and each bad argument throws an error naming it and its range', () => {
    const addon = (blas as { blas: unknown }).blas as Record<string, (...args: unknown[]) => unknown>;
    expect(Object.keys(addon).sort()).toEqual(Object.keys(table).sort());
    for (const [name, { valid, bad }] of Object.entries(table)) {
      // The valid call runs: so each case below fails for its one changed argument alone.
      expect(() => addon[name](...valid()), `${name} with valid arguments`).not.toThrow();
      const cases = bad(valid());
      if (name !== 'load') expect(cases.length, name).toBeGreaterThan(2);
      for (const [what, args, error] of cases) expect(() => addon[name](...args), `${name}: ${what}`).toThrow(error);
    }
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
