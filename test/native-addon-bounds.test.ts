import { describe, expect, it } from 'vitest';
import { requiredBlas } from './helpers/native-blas.js';

// The addon called directly, with no tfjs backend: each exported function's arguments checked against the
// buffers they index. CI installs OpenBLAS and sets TFJS_DISTILL_REQUIRE_OPENBLAS, so there a missing addon
// fails instead of skipping.

const blas = requiredBlas();
const NATIVE = 'blas' in blas;

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
    ...Object.fromEntries(
      (['tokenConvForward', 'tokenConvBackward'] as const).map((fn) => {
        const backward = fn === 'tokenConvBackward';
        // a [4, 2] table at 1, a kernel [3, 2, 2] at 9 and a bias [2] at 21 of 24 floats; 2 rows of 3 ids; col
        // [6, 6], out [6, 2], pooled [2, 2], index 2 + 1 + 2 x 4 + 6; then, backward, dPooled [2, 2], the
        // gradient laid out as the weights and the bound. The backward pass reads what a forward pass left.
        const valid = () => {
          const forward = [
            floats(24),
            Int32Array.of(1, 4, 2, 9, 21, 3, 2, 3),
            Float32Array.of(1, 3, 0, 2, 0, 0),
            2,
            floats(36),
            floats(12),
            floats(4),
            new Int32Array(17),
          ];
          if (!backward) return forward;
          (blas as { blas: Record<string, (...args: unknown[]) => unknown> }).blas.tokenConvForward(...forward);
          return [...forward, floats(4), floats(24), 2 ** 127];
        };
        const array = (name: string, offset: number, count: number, size: number) =>
          new RegExp(`^tfjs-distill native: ${fn} ${name} ${offset}: ${count} values there lie outside the array of ${size}$`);
        const holds = (name: string, size: number, rest: string) =>
          new RegExp(`^tfjs-distill native: ${fn} ${name} holds ${size} ${rest}$`);
        const cases = (v: unknown[]): Case[] => [
          ['layout of 7 values', swap(v, 1, new Int32Array(7)), new RegExp(`^tfjs-distill native: ${fn} layout holds 7 values, not 8$`)],
          ['vocabSize 0', geometry(v, 1, 1, 0), range(fn, 'vocabSize', 0, 1, MAX32)],
          ['width 0', geometry(v, 1, 2, 0), range(fn, 'width', 0, 1, MAX32)],
          ['kernelSize 0', geometry(v, 1, 5, 0), range(fn, 'kernelSize', 0, 1, MAX32)],
          ['filters 0', geometry(v, 1, 6, 0), range(fn, 'filters', 0, 1, MAX32)],
          ['maxLength 0', geometry(v, 1, 7, 0), range(fn, 'maxLength', 0, 1, MAX32)],
          ['negative rows', swap(v, 3, -1), range(fn, 'rows', -1, 0, MAX32)],
          ['table past the end', geometry(v, 1, 0, 17), array('tableOffset', 17, 8, 24)],
          ['negative tableOffset', geometry(v, 1, 0, -1), array('tableOffset', -1, 8, 24)],
          ['kernel past the end', geometry(v, 1, 3, 13), array('kernelOffset', 13, 12, 24)],
          ['bias past the end', geometry(v, 1, 4, 23), array('biasOffset', 23, 2, 24)],
          ['ids shorter', swap(v, 2, floats(5)), new RegExp(`^tfjs-distill native: ${fn} ids hold 5 ids, fewer than rows x maxLength$`)],
          ['col shorter', swap(v, 4, floats(35)), holds('col', 35, 'values, fewer than the 36 it needs')],
          ['out shorter', swap(v, 5, floats(11)), holds('out', 11, 'values, fewer than the 12 it needs')],
          ['pooled shorter', swap(v, 6, floats(3)), holds('pooled', 3, 'values, fewer than rows x filters')],
          ['index shorter', swap(v, 7, new Int32Array(16)), holds('index', 16, 'values, fewer than the 17 it needs')],
          ['the weights not a Float32Array', swap(v, 0, new Float64Array(24)), /^tfjs-distill native: expected a Float32Array$/],
          [
            'the layout not an Int32Array',
            swap(v, 1, Float32Array.of(1, 4, 2, 9, 21, 3, 2, 3)),
            /^tfjs-distill native: expected an Int32Array$/,
          ],
        ];
        const notFromForward = new RegExp(
          `^tfjs-distill native: ${fn}'s ids or index are not those of a forward pass; run tokenConvForward first$`,
        );
        const backwardCases = (v: unknown[]): Case[] => [
          ['dPooled shorter', swap(v, 8, floats(3)), holds('dPooled', 3, 'values, fewer than rows x filters')],
          ['grad shorter', swap(v, 9, floats(22)), array('grad biasOffset', 21, 2, 22)],
          [
            'grad over the weights',
            swap(v, 9, v[0]),
            new RegExp(`^tfjs-distill native: ${fn} table and grad's table overlap; pass arrays that share no values$`),
          ],
          ['an id past the table', swap(v, 2, Float32Array.of(1, 4, 0, 2, 0, 0)), notFromForward],
          [
            'an index the forward pass did not leave',
            swap(
              v,
              7,
              Int32Array.from(v[7] as Int32Array, (x, i) => (i === 3 ? 5 : x)),
            ),
            notFromForward,
          ],
        ];
        const forwardCases = (v: unknown[]): Case[] => [
          [
            'col over the table',
            ((weights) => swap(swap(v, 0, weights), 4, weights.subarray(0, 36)))(floats(64)),
            /^tfjs-distill native: tokenConvForward table and col overlap; pass arrays that share no values$/,
          ],
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
