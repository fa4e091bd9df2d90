/** Equal for the wasm backend: a JS loop on the wasm heap that broadcasts by strides. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { broadcastStrides } from '../broadcast-strides.js';
import type { KernelArgs } from './heap-tensors.js';

/**
 * a == b elementwise, broadcast as in TensorFlow, as bool (NaN equals nothing). The backend's own kernel
 * finds each element's inputs through per-element index vectors when the shapes differ, which made the
 * gradient of a max over an axis (Equal of the input and its broadcast maximum) most of a cnn1d student's
 * step; this walks the output's last axis with one stride per input. Other dtypes go to the backend's own.
 */
export const equalByStrides =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const numeric = (t: tf.TensorInfo) => t.dtype === 'float32' || t.dtype === 'int32';
    if (!numeric(a) || !numeric(b)) return own(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = wasm.makeOutput(outShape, 'bool');
    const size = tf.util.sizeFromShape(outShape);
    if (size === 0) return out;
    const av = wasm.typedArrayFromHeap(a) as Float32Array | Int32Array;
    const bv = wasm.typedArrayFromHeap(b) as Float32Array | Int32Array;
    const result = wasm.typedArrayFromHeap(out) as Uint8Array;
    const rank = outShape.length;
    if (rank === 0) {
      result[0] = av[0] === bv[0] ? 1 : 0;
      return out;
    }
    const aStrides = broadcastStrides(a.shape, outShape);
    const bStrides = broadcastStrides(b.shape, outShape);
    // The usual case, float32 against float32, in a loop of its own that sees one kind of array (faster).
    if (a.dtype === 'float32' && b.dtype === 'float32')
      compare(result, av as Float32Array, bv as Float32Array, outShape, aStrides, bStrides);
    else compareMixed(result, av, bv, outShape, aStrides, bStrides);
    return out;
  };

function compare(result: Uint8Array, av: Float32Array, bv: Float32Array, outShape: number[], aStrides: number[], bStrides: number[]): void {
  const rank = outShape.length;
  const size = result.length;
  const inner = outShape[rank - 1];
  const aStep = aStrides[rank - 1];
  const bStep = bStrides[rank - 1];
  const position = new Array<number>(rank).fill(0); // the output index, last axis left out
  let aStart = 0;
  let bStart = 0;
  for (let to = 0; to < size; to += inner) {
    for (let j = 0, i = aStart, k = bStart; j < inner; j++, i += aStep, k += bStep) result[to + j] = Number(av[i] === bv[k]);
    // The next row of the output: an odometer over the axes before the last.
    for (let axis = rank - 2; axis >= 0; axis--) {
      aStart += aStrides[axis];
      bStart += bStrides[axis];
      if (++position[axis] < outShape[axis]) break;
      aStart -= aStrides[axis] * outShape[axis];
      bStart -= bStrides[axis] * outShape[axis];
      position[axis] = 0;
    }
  }
}

/** As compare, for int32 against int32 or float32. */
function compareMixed(
  result: Uint8Array,
  av: Float32Array | Int32Array,
  bv: Float32Array | Int32Array,
  outShape: number[],
  aStrides: number[],
  bStrides: number[],
): void {
  const rank = outShape.length;
  const size = result.length;
  const inner = outShape[rank - 1];
  const aStep = aStrides[rank - 1];
  const bStep = bStrides[rank - 1];
  const position = new Array<number>(rank).fill(0); // the output index, last axis left out
  let aStart = 0;
  let bStart = 0;
  for (let to = 0; to < size; to += inner) {
    for (let j = 0, i = aStart, k = bStart; j < inner; j++, i += aStep, k += bStep) result[to + j] = Number(av[i] === bv[k]);
    // The next row of the output: an odometer over the axes before the last.
    for (let axis = rank - 2; axis >= 0; axis--) {
      aStart += aStrides[axis];
      bStart += bStrides[axis];
      if (++position[axis] < outShape[axis]) break;
      aStart -= aStrides[axis] * outShape[axis];
      bStart -= bStrides[axis] * outShape[axis];
      position[axis] = 0;
    }
  }
}
